"""Inventory (WMS → hub) and inventory upload (hub → cart)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Sum

from cartrover.adapters import (
    BadPayload,
    StockLevel,
)
from carts.models import CartConnection
from carts.services import cart_adapter
from orders.models import (
    CartStock,
    InventoryLevel,
    OrderLine,
    OrderStatus,
    ProductAlias,
)
from sync.alerts import rows_alert
from sync.flows.context import RunContext, merchant_ref
from sync.ingest import NOT_AT_WMS
from wms.services import wms_adapter, wms_config_of

S = OrderStatus


def inventory_receive(run: RunContext) -> None:
    """Load the merchant's stock per SKU and warehouse from the WMS.

    Levels are written in batches, so the WMS is told to let go of what it handed over (a
    file WMS archives its stock files) only once every level and the alert about bad rows
    are committed: a run that dies before leaves the files to be read again.
    """
    merchant = run.schedule.merchant
    adapter = wms_adapter(wms_config_of(merchant.account_id))
    failed_rows: list[str] = []

    def readable() -> Iterator[StockLevel]:
        for level in adapter.fetch_inventory(merchant_ref(merchant)):
            if isinstance(level, BadPayload):
                run.item_failed(level.message)
                failed_rows.append(level.message)
            else:
                yield level

    try:
        stored, skipped = inventory_record(
            merchant, readable(), now=run.now, on_batch=run.heartbeat
        )
        run.count("levels", stored)
        if skipped:
            run.item_failed(f"The WMS reported stock without a SKU {skipped} time(s); skipped.")
        rows_alert(merchant, "inventory_rows", failed_rows, "stock")
        run.heartbeat()  # the files are let go of only by the run that owns the schedule
        adapter.acknowledge()
    finally:
        adapter.close()
        run.notes(adapter)


def inventory_record(
    merchant: Any,
    levels: Iterable[StockLevel],
    *,
    now: datetime,
    on_batch: Callable[[], None] = lambda: None,
) -> tuple[int, int]:
    """Upsert stock per (SKU, warehouse) in batches; return (stored, skipped without SKU).

    Used by the inventory flow and by WMSes that post stock to the API.
    """
    batch: dict[tuple[str, str], InventoryLevel] = {}
    stored = skipped = 0

    def flush() -> None:
        nonlocal stored
        InventoryLevel.objects.bulk_create(
            list(batch.values()),
            update_conflicts=True,
            unique_fields=["merchant", "sku", "warehouse"],
            update_fields=["quantity", "as_of"],
        )
        stored += len(batch)
        batch.clear()
        on_batch()

    for level in levels:
        sku = level.sku.strip()[:200]
        if not sku:
            skipped += 1
            continue
        batch[(sku, level.warehouse[:100])] = InventoryLevel(
            account_id=merchant.account_id,
            merchant=merchant,
            sku=sku,
            warehouse=level.warehouse[:100],
            quantity=level.quantity,
            as_of=now,
        )
        if len(batch) >= 1000:
            flush()
    if batch:
        flush()
    return stored, skipped


# --- 6. Inventory upload (hub → cart) -----------------------------------------------------


@dataclass
class StockPlanRow:
    """What the next inventory upload sends for one SKU, and why."""

    sku: str
    master_sku: str
    on_hand: int
    in_flight: int
    quantity: int
    last_sent: int | None
    reason: str

    @property
    def changed(self) -> bool:
        return self.last_sent != self.quantity


def inventory_plan(cart: CartConnection) -> list[StockPlanRow]:
    """Compute the stock to send a cart: warehouse, alias, minimum level, in-flight orders."""
    merchant_id = cart.merchant_id
    levels = InventoryLevel.objects.filter(merchant_id=merchant_id)
    where = "all warehouses"
    if cart.inventory_warehouse_id:
        warehouse = cart.inventory_warehouse
        assert warehouse is not None
        levels = levels.filter(warehouse=warehouse.code)
        where = f"warehouse {warehouse.code}"
    on_hand = dict(levels.values("sku").annotate(q=Sum("quantity")).values_list("sku", "q"))
    in_flight = dict(
        OrderLine.objects.filter(order__merchant_id=merchant_id, order__status__in=NOT_AT_WMS)
        .values("wms_sku")
        .annotate(q=Sum("quantity"))
        .values_list("wms_sku", "q")
    )
    aliases: dict[str, str] = {}
    if cart.inventory_alias_type:
        aliases = dict(
            ProductAlias.objects.filter(
                merchant_id=merchant_id, alias_type=cart.inventory_alias_type
            ).values_list("master_sku", "alias")
        )
    sent = dict(CartStock.objects.filter(cart=cart).values_list("sku", "quantity"))
    rows = []
    for master in sorted(on_hand):
        have, pending = int(on_hand[master] or 0), int(in_flight.get(master) or 0)
        available = have - pending
        reasons = [f"{have} on hand in {where}"]
        if pending:
            reasons.append(f"minus {pending} in orders not yet at the WMS")
        quantity = max(0, available)
        if quantity < cart.inventory_min_level:
            reasons.append(f"below the minimum of {cart.inventory_min_level}, so 0")
            quantity = 0
        sku = aliases.get(master, master)
        if sku != master:
            reasons.append(f"sent as {cart.inventory_alias_type} alias {sku}")
        rows.append(
            StockPlanRow(
                sku=sku,
                master_sku=master,
                on_hand=have,
                in_flight=pending,
                quantity=quantity,
                last_sent=sent.get(sku),
                reason="; ".join(reasons),
            )
        )
    return rows


def inventory_upload(run: RunContext) -> None:
    """Send the cart the stock that changed since the last push."""
    cart = run.schedule.cart
    assert cart is not None
    changed = [row for row in inventory_plan(cart) if row.changed]
    run.count("unchanged", 0)
    if not changed:
        run.log("No stock changed since the last upload.")
        return
    adapter = cart_adapter(cart)
    for start in range(0, len(changed), 100):
        rows = changed[start : start + 100]
        results = adapter.upload_inventory(
            [StockLevel(sku=r.sku, quantity=r.quantity) for r in rows]
        )
        ok = {r.sku for r in results if r.ok}
        for result in results:
            if not result.ok:
                run.item_failed(f"Stock of {result.sku} not set: {result.error}")
        CartStock.objects.bulk_create(
            [
                CartStock(
                    account_id=cart.account_id,
                    cart=cart,
                    sku=r.sku,
                    quantity=r.quantity,
                    sent_at=run.now,
                )
                for r in rows
                if r.sku in ok
            ],
            update_conflicts=True,
            unique_fields=["cart", "sku"],
            update_fields=["quantity", "sent_at"],
        )
        run.count("sent", len(ok))
        run.heartbeat()
