"""The CSV layout builder: start from a sample file, map its columns, preview, save.

Layouts live in the CSV file WMS's settings (`order_layout`, `shipment_layout`,
`inventory_layout`) as JSON; this screen edits them without anyone writing JSON.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from cartrover.tenancy import Tenant, tenant_required
from orders.models import Order
from wms.files.layout import (
    DELIMITERS,
    INVENTORY_SOURCES,
    ORDER_SOURCES,
    SHIPMENT_SOURCES,
    Column,
    InventoryLayout,
    LayoutError,
    OrderLayout,
    ShipmentLayout,
    UnreadableFile,
    detect,
    read_inventory,
    read_shipments,
    suggest_inventory_layout,
    suggest_order_layout,
    suggest_shipment_layout,
    write_orders,
)
from wms.models import WmsConfig

KINDS: dict[str, tuple[str, type[Any], dict[str, str], Any]] = {
    "order": ("Order files (to the warehouse)", OrderLayout, ORDER_SOURCES, suggest_order_layout),
    "shipment": (
        "Shipment files (from the warehouse)",
        ShipmentLayout,
        SHIPMENT_SOURCES,
        suggest_shipment_layout,
    ),
    "inventory": (
        "Stock files (from the warehouse)",
        InventoryLayout,
        INVENTORY_SOURCES,
        suggest_inventory_layout,
    ),
}
PREVIEW_ORDERS = 5


def _config(tenant: Tenant) -> WmsConfig:
    config = WmsConfig.objects.visible_to(tenant).first()
    if tenant.is_merchant_user or config is None or config.kind != "csv_file":
        raise Http404("No CSV file WMS here.")
    return config


def _current(config: WmsConfig, which: str) -> Any:
    from wms.adapters.csv_file.files import layout_from

    _, cls, _, _ = KINDS[which]
    value = config.settings.get(f"{which}_layout")
    if not value:
        from wms.adapters.csv_file import files

        value = getattr(files, f"{which.upper()}_LAYOUT")
    return layout_from(value, cls, f"the {which} layout")


def _from_post(request: HttpRequest, which: str) -> Any:
    """Build a layout from the mapping form; raise LayoutError for a wrong one."""
    _, cls, _, _ = KINDS[which]
    columns = []
    for n in range(int(request.POST.get("count", "0") or 0)):
        source = request.POST.get(f"source-{n}", "")
        if not source:
            continue  # a column the user chose to leave out
        decimals = request.POST.get(f"decimals-{n}", "")
        columns.append(
            Column(
                source=source,
                header=request.POST.get(f"header-{n}", ""),
                value=request.POST.get(f"value-{n}", ""),
                date_format=request.POST.get(f"date_format-{n}", ""),
                decimals=int(decimals) if decimals.isdigit() else None,
            )
        )
    options: dict[str, Any] = {
        "columns": columns,
        "header": request.POST.get("header") == "on",
        "delimiter": request.POST.get("delimiter", ","),
    }
    if which == "order":
        options["mode"] = request.POST.get("mode", "vertical")
    if which == "shipment":
        options["tracking_separator"] = request.POST.get("tracking_separator", "|")
    layout = cls(**options)
    layout.validate()
    return layout


def _preview(tenant: Tenant, which: str, layout: Any, sample: bytes) -> tuple[str, list[str]]:
    """Return what the layout makes of real data: orders written, or the sample read."""
    if which == "order":
        from sync.outbox import wms_order

        orders = (
            Order.objects.visible_to(tenant)
            .select_related("ship_method", "cart", "merchant")
            .prefetch_related("lines")
            .order_by("-created_at")[:PREVIEW_ORDERS]
        )
        data = write_orders(layout, [wms_order(o) for o in orders])
        return data.decode(layout.encoding, errors="replace"), []
    if not sample:
        return "", ["Upload a sample file to see how it is read."]
    parsed = (
        read_shipments(layout, sample) if which == "shipment" else read_inventory(layout, sample)
    )
    items = parsed.shipments if which == "shipment" else parsed.levels
    lines = [repr(item) for item in items[:20]]
    return "\n".join(lines), [f"Row {e.row}: {e.reason}" for e in parsed.errors]


@tenant_required
def layout_builder(request: HttpRequest, tenant: Tenant, which: str) -> HttpResponse:
    if which not in KINDS:
        raise Http404("No such layout.")
    config = _config(tenant)
    title, _, sources, suggest = KINDS[which]
    layout = _current(config, which)
    sample = b""
    preview, problems = "", []
    if request.method == "POST":
        upload = request.FILES.get("sample")
        sample = upload.read(1_000_000) if upload else request.POST.get("sample_text", "").encode()
        try:
            if request.POST.get("step") == "detect" and sample:
                layout = suggest(detect(sample))
                messages.info(request, f"Found {len(layout.columns)} column(s): check the mapping.")
            else:
                layout = _from_post(request, which)
                preview, problems = _preview(tenant, which, layout, sample)
                if request.POST.get("step") == "save":
                    config.settings = {
                        **config.settings,
                        f"{which}_layout": json.dumps(layout.to_dict(), indent=2),
                    }
                    config.save()
                    messages.success(request, f"{title}: layout saved.")
                    return redirect("layout_builder", which=which)
        except (LayoutError, UnreadableFile) as exc:
            problems = [str(exc)]
    return render(
        request,
        "wms/layout.html",
        {
            "which": which,
            "title": title,
            "layout": layout,
            "sources": sorted(sources),
            "delimiters": DELIMITERS,
            "preview": preview,
            "problems": problems,
            "sample_text": sample.decode("utf-8", errors="replace"),
            "kinds": KINDS,
        },
    )
