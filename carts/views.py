"""Cart screens: add a cart of any kind, edit it, test it, and run its flows now."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from cartrover.adapters import AdapterError
from cartrover.templatetags.hub import local_when
from cartrover.tenancy import Tenant, get_for_tenant_or_404, tenant_required
from carts.adapters import CART_KINDS
from carts.forms import CartForm
from carts.models import CartConnection
from carts.services import cart_adapter, cart_test_connection
from merchants.models import Merchant
from sync.models import JobRun, Schedule
from sync.scheduler import schedule_run_now


@tenant_required
def cart_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    carts = CartConnection.objects.visible_to(tenant).select_related("merchant")
    return render(request, "carts/list.html", {"carts": carts})


@tenant_required
def cart_new(request: HttpRequest, tenant: Tenant, merchant_pk: int) -> HttpResponse:
    merchant = get_for_tenant_or_404(tenant, Merchant, pk=merchant_pk)
    kind = request.GET.get("kind") or request.POST.get("kind")
    if kind not in CART_KINDS.kinds():
        return render(
            request,
            "carts/choose_kind.html",
            {
                "merchant": merchant,
                "kinds": CART_KINDS.choices(),
            },
        )
    form = CartForm(
        request.POST or None,
        kind=kind,
        tenant=tenant,
        instance=CartConnection(account=merchant.account, merchant=merchant, kind=kind),
    )
    if request.method == "POST" and form.is_valid():
        cart = form.save()
        messages.success(request, f"Cart {cart} added. Test its connection next.")
        return redirect("cart_detail", pk=cart.pk)
    return render(
        request,
        "carts/form.html",
        {"form": form, "merchant": merchant, "kind": kind, "label": CART_KINDS.kinds()[kind][0]},
    )


@tenant_required
def cart_edit(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    cart = get_for_tenant_or_404(tenant, CartConnection.objects.select_related("merchant"), pk=pk)
    try:
        form = CartForm(request.POST or None, kind=cart.kind, tenant=tenant, instance=cart)
    except AdapterError as exc:
        messages.error(request, exc.message)
        return redirect("cart_detail", pk=cart.pk)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Cart {cart} saved.")
        return redirect("cart_detail", pk=cart.pk)
    return render(
        request,
        "carts/form.html",
        {
            "form": form,
            "merchant": cart.merchant,
            "cart": cart,
            "kind": cart.kind,
            "label": CART_KINDS.kinds().get(cart.kind, (cart.kind,))[0],
        },
    )


@tenant_required
def cart_detail(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    cart = get_for_tenant_or_404(tenant, CartConnection.objects.select_related("merchant"), pk=pk)
    schedules = list(Schedule.objects.filter(cart=cart).order_by("flow"))
    runs = JobRun.objects.filter(cart=cart).order_by("-started_at")[:10]
    return render(
        request,
        "carts/detail.html",
        {
            "cart": cart,
            "schedules": [(s, schedule_state(s)) for s in schedules],
            "runs": runs,
            "webhook_path": f"/hooks/carts/{cart.webhook_key}/",
        },
    )


@tenant_required
@require_POST
def cart_test(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    cart = get_for_tenant_or_404(tenant, CartConnection, pk=pk)
    ok, message = cart_test_connection(cart)
    (messages.success if ok else messages.error)(request, message)
    return redirect("cart_detail", pk=cart.pk)


def schedule_state(schedule: Schedule) -> dict[str, object]:
    """Return what the cart screen shows of a schedule: idle, queued or running, and when."""
    now = timezone.now()
    if schedule.lease_until and schedule.lease_until > now:
        state = "running"
    elif schedule.enabled and schedule.next_run_at <= now:
        state = "queued"
    else:
        state = "idle"
    last = schedule.runs.order_by("-started_at").first()
    return {
        "id": schedule.pk,
        "state": state,
        "enabled": schedule.enabled,
        "next_run_at": schedule.next_run_at.isoformat() if schedule.enabled else None,
        "last_run_at": last.started_at.isoformat() if last else None,
        # As the page shows them: in the user's time zone, with its abbreviation.
        "next_run_shown": local_when(schedule.next_run_at) if schedule.enabled else "—",
        "last_run_shown": local_when(last.started_at) if last else "never",
        "last_outcome": last.get_outcome_display() if last else "",
        "last_counts": last.counts if last else {},
        "last_error": last.error if last else "",
    }


@tenant_required
@require_POST
def schedule_run(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    schedule = get_for_tenant_or_404(tenant, Schedule.objects.select_related("cart"), pk=pk)
    if not schedule.enabled:
        messages.error(
            request, f"{schedule} is off or paused: turn it on (or fix the connection) first."
        )
    else:
        schedule_run_now(schedule)
        schedule.refresh_from_db()
        messages.success(request, f"{schedule} will run in a few seconds.")
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(schedule_state(schedule))
    if schedule.cart_id:
        return redirect("cart_detail", pk=schedule.cart_id)
    return redirect("merchant_detail", pk=schedule.merchant_id)


@tenant_required
def schedule_status(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    schedule = get_for_tenant_or_404(tenant, Schedule, pk=pk)
    return JsonResponse(schedule_state(schedule))


@tenant_required
@require_POST
def cart_upload(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    """Take an order file by hand into a CSV cart, read with the cart's order layout."""
    from carts.adapters.csv_file.adapter import orders_from_upload
    from sync.ingest import orders_upload
    from wms.adapters.csv_file.files import order_layout
    from wms.files.layout import LayoutError

    cart = get_for_tenant_or_404(tenant, CartConnection, pk=pk)
    upload = request.FILES.get("orders_file")
    if cart.kind != "csv_file" or upload is None:
        messages.error(request, "Choose an order file to upload into this CSV cart.")
        return redirect("cart_detail", pk=cart.pk)
    try:
        setup = cart_adapter(cart).setup  # with the kind's defaults
        layout = order_layout(setup.get("order_layout"), "the cart's order layout")
        items = orders_from_upload(layout, upload.read(20_000_000))
    except (AdapterError, LayoutError) as exc:
        messages.error(request, f"The cart's order layout is wrong: {exc}")
        return redirect("cart_detail", pk=cart.pk)
    run = orders_upload(cart, items, source=upload.name or "upload")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())) or "nothing new"
    (messages.success if run.outcome == "ok" else messages.warning)(
        request, f"{upload.name}: {counts}. The activity log has the details."
    )
    return redirect("cart_detail", pk=cart.pk)
