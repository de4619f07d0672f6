"""Order download (cart → hub): orders changed since the cursor, stored as they stream in."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, time, timedelta
from typing import Any

from cartrover.adapters import (
    BadPayload,
    CartOrder,
)
from carts.services import cart_adapter
from sync.flows.context import RunContext, aware
from sync.ingest import STORE_BATCH, OrderStore, read_ahead

# Re-read this much before the cursor, so orders sharing a timestamp across a page boundary,
# or written late by the cart, are not missed. Upserts make the overlap free of duplicates.
OVERLAP = timedelta(minutes=10)


def orders_download(run: RunContext) -> None:
    """Download the cart's orders changed since the cursor and store them."""
    cart = run.schedule.cart
    assert cart is not None
    adapter = cart_adapter(cart)
    cursor = run.schedule.cursor
    if cursor is not None:
        since: datetime | None = cursor - OVERLAP
    elif cart.earliest_order_date:
        since = datetime.combine(cart.earliest_order_date, time.min, tzinfo=UTC)
    else:
        since = None
    run.log(
        f"Downloading orders updated since {since:%Y-%m-%d %H:%M:%S} UTC."
        if since
        else "Downloading orders (first download)."
    )
    store = OrderStore(cart, run)
    try:
        run.cursor = _store_all(run, adapter, store, since, cursor)
        store.finish()
        # Every order is committed: a file cart may now archive the files they came in.
        run.heartbeat()
        adapter.acknowledge()
    finally:
        adapter.close()
        run.notes(adapter)


def _store_all(
    run: RunContext, adapter: Any, store: OrderStore, since: datetime | None, cursor: Any
) -> datetime | None:
    """Store what the cart yields, STORE_BATCH at a time; return the newest change seen."""
    batch: list[CartOrder | BadPayload] = []
    newest = cursor
    # Closed on the way out, so a failed save or a lost lease stops the reading at once.
    with closing(read_ahead(adapter.fetch_orders(since), chunk=STORE_BATCH)) as items:
        for item in items:
            batch.append(item)
            if isinstance(item, CartOrder):
                updated = aware(item.updated_at)
                if updated is not None and (newest is None or updated > newest):
                    newest = min(updated, run.now)
            if len(batch) >= STORE_BATCH:
                store.save(batch)
                batch = []
                run.heartbeat()
    store.save(batch)
    return newest
