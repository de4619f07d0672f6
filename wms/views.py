"""The WMS setup screen: kind, settings, test connection, ship methods, warehouses.

Account admins and staff change it; merchant users see it read-only.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cartrover.adapters import AdapterError
from cartrover.tenancy import Tenant, tenant_required
from wms.adapters import WMS_KINDS
from wms.forms import ShipMethodForm, WarehouseForm, WmsConfigForm
from wms.models import Warehouse, WmsConfig, WmsShipMethod
from wms.services import ship_methods_load, wms_test_connection


def _editable(tenant: Tenant) -> None:
    if tenant.is_merchant_user:
        raise Http404("No such page.")


@tenant_required
def wms_setup(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    config = WmsConfig.objects.visible_to(tenant).first()
    kind = request.GET.get("kind") or (config.kind if config else "")
    form = None
    if not tenant.is_merchant_user and kind in WMS_KINDS.kinds():
        if config is None or config.kind != kind:
            target = config or WmsConfig(account=tenant.account)
            target.kind = kind
        else:
            target = config
        form = WmsConfigForm(request.POST or None, config=target)
        if request.method == "POST" and form.is_valid():
            form.save()
            messages.success(request, "WMS saved. Test its connection next.")
            return redirect("wms_setup")
    return render(
        request,
        "wms/setup.html",
        {
            "config": config,
            "form": form,
            "kinds": WMS_KINDS.choices(),
            "kind": kind,
            "methods": WmsShipMethod.objects.visible_to(tenant),
            "warehouses": Warehouse.objects.visible_to(tenant),
            "method_form": ShipMethodForm(prefix="method"),
            "warehouse_form": WarehouseForm(prefix="warehouse"),
            "read_only": tenant.is_merchant_user,
        },
    )


@tenant_required
@require_POST
def wms_test(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    _editable(tenant)
    config = WmsConfig.objects.visible_to(tenant).first()
    if config is None:
        raise Http404("No WMS is set up.")
    ok, message = wms_test_connection(config)
    (messages.success if ok else messages.error)(request, message)
    return redirect("wms_setup")


@tenant_required
@require_POST
def ship_methods_add(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    _editable(tenant)
    config = WmsConfig.objects.visible_to(tenant).first()
    if request.POST.get("load") and config is not None:
        try:
            added = ship_methods_load(config)
            messages.success(request, f"Loaded the WMS's ship methods: {added} new.")
        except AdapterError as exc:
            messages.error(request, f"Could not load ship methods: {exc.message}")
        return redirect("wms_setup")
    form = ShipMethodForm(request.POST, prefix="method")
    if form.is_valid():
        try:
            WmsShipMethod.objects.create(account=tenant.account, **form.cleaned_data)
            messages.success(request, f"Ship method {form.cleaned_data['code']} added.")
        except IntegrityError:
            messages.error(request, f"Ship method {form.cleaned_data['code']} exists already.")
    else:
        messages.error(request, "A ship method needs a code.")
    return redirect("wms_setup")


@tenant_required
@require_POST
def warehouses_add(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    _editable(tenant)
    form = WarehouseForm(request.POST, prefix="warehouse")
    if form.is_valid():
        try:
            Warehouse.objects.create(account=tenant.account, **form.cleaned_data)
            messages.success(request, f"Warehouse {form.cleaned_data['code']} added.")
        except IntegrityError:
            messages.error(request, f"Warehouse {form.cleaned_data['code']} exists already.")
    else:
        messages.error(request, "A warehouse needs a code.")
    return redirect("wms_setup")
