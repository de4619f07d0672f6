"""The six flows. Each takes a RunContext, calls one adapter and owns every database write.

Adapters raise typed errors for the whole call (AuthError, RateLimited, TransientError); the
scheduler turns those into the run's outcome. Per-item trouble (one unreadable order, one
rejected delivery, one failed tracking upload) is handled here: that item is recorded with its
reason, the run is marked partial, and the rest goes on. Running any flow twice changes nothing
the second time: orders are upserted by (cart, external id) and compared by payload hash,
shipments by (order, tracking number), stock by what was last sent.
"""

from __future__ import annotations

import hashlib
import json
import math
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, is_dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Model, Q, Sum
from django.utils import timezone

from cartrover.adapters import (
    AdapterError,
    Address,
    AuthError,
    BadPayload,
    CartOrder,
    CartShipment,
    MerchantRef,
    RateLimited,
    ShipmentItem,
    StockLevel,
    WmsOrder,
    WmsOrderLine,
    WmsShipment,
)
from carts.models import CartConnection
from carts.services import cart_adapter
from orders import services as order_services
from orders.models import (
    CartStock,
    EventKind,
    HoldReason,
    InventoryLevel,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    ProductAlias,
    Shipment,
    ShipmentLine,
    ShipMethodMapping,
    UploadState,
)
from sync.alerts import alert_open, alert_resolve
from sync.models import JobRun, Schedule, WebhookEvent
from wms.models import WmsShipMethod
from wms.services import wms_adapter, wms_config_of

S = OrderStatus
# Re-read this much before the cursor, so orders sharing a timestamp across a page boundary,
# or written late by the cart, are not missed. Upserts make the overlap free of duplicates.
OVERLAP = timedelta(minutes=10)
STORE_BATCH = 250
NOT_AT_WMS = (S.NEW, S.HELD, S.ERROR)


class LeaseLost(Exception):
    """Another worker holds the schedule now: stop without writing the run's end."""


@dataclass
class RunContext:
    """What a flow run knows (its schedule, the time) and reports (counts, log, cursor)."""

    schedule: Schedule
    now: datetime
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lines: list[str] = field(default_factory=list)
    partial: bool = False
    cursor: datetime | None = None
    heartbeat: Callable[[], None] = lambda: None
    # Set by a flow that had nothing to do and never called its cart or WMS: such a run says
    # nothing about the connection's health.
    idle: bool = False

    def log(self, message: str) -> None:
        self.lines.append(f"{timezone.now():%H:%M:%S} {message}")

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def notes(self, adapter: Any) -> None:
        """Copy the adapter's own lines (per-file results, ...) into the log."""
        for line in adapter.notes:
            self.log(line)
        adapter.notes.clear()

    def item_failed(self, message: str) -> None:
        self.partial = True
        self.count("failed")
        self.log(message)


def merchant_ref(merchant: Any) -> MerchantRef:
    return MerchantRef(id=merchant.pk, name=merchant.name, settings=dict(merchant.wms_settings))


def _payload_hash(raw: Any) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        return value.replace(tzinfo=UTC)
    return value


# Quantities are 32-bit integers and amounts have 14 digits, 4 of them decimals.
MAX_QUANTITY = 2**31 - 1
MAX_AMOUNT = 10**10


def _storable(item: CartOrder | BadPayload) -> CartOrder | BadPayload:
    """Return the order, or a BadPayload when a number in it cannot be stored or shipped.

    Text and payloads are cleaned of what no database column takes (NUL characters, NaN and
    infinite JSON numbers). One such order would otherwise fail its whole batch, and every
    later run with it.
    """
    if isinstance(item, BadPayload):
        if _needs_cleaning(item.raw) or "\x00" in item.message + item.external_id:
            return BadPayload(
                _clean(item.message),
                external_id=_clean(item.external_id),
                raw=_clean(item.raw),
            )
        return item
    if _needs_cleaning(item.raw) or _needs_cleaning(item, text_only=True):
        item = _clean(item)
    problems = []
    if item.total is not None and not (item.total.is_finite() and abs(item.total) < MAX_AMOUNT):
        problems.append(f"total {item.total} is not an amount")
    # A canceled order ships nothing, so only the column bounds its quantities.
    lowest = -MAX_QUANTITY if item.canceled else 1
    for line in item.lines:
        if not lowest <= line.quantity <= MAX_QUANTITY:
            problems.append(f"line {line.line_id or line.sku} has quantity {line.quantity}")
        price = line.price
        if price is not None and not (price.is_finite() and abs(price) < MAX_AMOUNT):
            problems.append(f"line {line.line_id or line.sku} has price {price}")
    if not problems:
        return item
    return BadPayload(
        f"the order cannot be shipped as sent: {'; '.join(problems[:3])}.",
        external_id=item.external_id,
        raw=item.raw,
    )


def _needs_cleaning(value: Any, *, text_only: bool = False) -> bool:
    """Say whether `value` holds a NUL character or, unless `text_only`, a NaN or infinity."""
    if text_only:
        return any("\x00" in text for text in _texts(value))
    try:
        dumped = json.dumps(value, allow_nan=False, default=str)
    except ValueError:
        return True
    return "\\u0000" in dumped


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for part in value:
            yield from _texts(part)
    elif is_dataclass(value) and not isinstance(value, type):
        for spec in dataclass_fields(value):
            if spec.name != "raw":
                yield from _texts(getattr(value, spec.name))


_T = TypeVar("_T")


def _clean(value: _T) -> _T:
    """Return `value` without NUL characters, with NaN and infinite numbers as text."""
    cleaned: Any = value
    if isinstance(value, str):
        cleaned = value.replace("\x00", "")
    elif isinstance(value, float) and not math.isfinite(value):
        cleaned = str(value)
    elif isinstance(value, dict):
        cleaned = {_clean(k): _clean(v) for k, v in value.items()}
    elif isinstance(value, list | tuple):
        cleaned = [_clean(v) for v in value]
    elif is_dataclass(value) and not isinstance(value, type):
        for spec in dataclass_fields(value):
            setattr(value, spec.name, _clean(getattr(value, spec.name)))
    return cleaned


# --- 1. Order download (cart → hub) -------------------------------------------------------


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
    batch: list[CartOrder | BadPayload] = []
    newest = cursor
    # Closed on the way out, so a failed save or a lost lease stops the reading at once.
    with closing(read_ahead(adapter.fetch_orders(since), chunk=STORE_BATCH)) as items:
        for item in items:
            batch.append(item)
            if isinstance(item, CartOrder):
                updated = _aware(item.updated_at)
                if updated is not None and (newest is None or updated > newest):
                    newest = min(updated, run.now)
            if len(batch) >= STORE_BATCH:
                store.save(batch)
                batch = []
                run.heartbeat()
    store.save(batch)
    run.cursor = newest
    store.finish()
    run.notes(adapter)


T = TypeVar("T")
_END = object()


class _Failed:
    """The exception that ended the items being read ahead, to raise in the reader's thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterator[T], *, chunk: int, chunks: int = 2) -> Generator[T]:
    """Yield what `items` yields, while a thread already reads up to `chunks` chunks ahead.

    The cart's next page is fetched while this one is stored, so waiting on the cart and
    writing to the database overlap. The thread only runs the adapter, which never touches
    the ORM. An error of the adapter is raised here after the items read before it, just
    where reading them directly would raise it. Stopping early stops the thread.
    """
    ahead: queue.Queue[Any] = queue.Queue(maxsize=chunks)
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        pending: list[T] = []
        try:
            for item in items:
                pending.append(item)
                if len(pending) >= chunk:
                    if not put(pending):
                        return
                    pending = []
            if put(pending):
                put(_END)
        except BaseException as exc:
            if put(pending):
                put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=read, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            got = ahead.get()
            if got is _END:
                return
            if isinstance(got, _Failed):
                raise got.error
            yield from got
    finally:
        stop.set()


# The address fields, read once: dataclasses.asdict deep-copies every value of every address.
_ADDRESS_FIELDS = tuple(f.name for f in dataclass_fields(Address))


def _address(value: Address | None) -> dict[str, Any]:
    return {name: getattr(value, name) for name in _ADDRESS_FIELDS} if value else {}


def _insert(objs: Sequence[Model]) -> None:
    """Insert new rows of one model and set their primary keys, as bulk_create does.

    On PostgreSQL the rows go in by COPY, with ids taken from the table's sequence first:
    bulk_create would send each column as an array literal, which psycopg escapes in Python
    one character at a time, and order payloads are kilobytes of JSON.
    """
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    # The wrapper itself: going through the `connection` proxy costs a lookup per value.
    db = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns = [f for f in meta.concrete_fields if not f.primary_key]
    quote = db.ops.quote_name
    names = ", ".join(quote(str(f.column)) for f in [pk, *columns])
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        # Errors become Django's (IntegrityError on a duplicate), as they are for the ORM.
        with db.wrap_database_errors:
            copy = cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({names}) FROM STDIN")
            with copy as rows:
                for obj, new_id in zip(objs, ids, strict=True):
                    obj.pk = new_id
                    values = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in columns]
                    rows.write_row([new_id, *values])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db.alias


class OrderStore:
    """Upsert a cart's orders in batches: a few queries per page, whatever its size.

    Orders already stored and unchanged cost one query per page: their ids and payload
    hashes. Only changed orders are loaded; new orders, their lines and events are inserted
    in bulk.
    """

    def __init__(self, cart: CartConnection, run: RunContext) -> None:
        self.cart = cart
        self.run = run
        self.merchant = cart.merchant
        self.mappings = {
            m.cart_code: m.ship_method
            for m in ShipMethodMapping.objects.filter(merchant=self.merchant).select_related(
                "ship_method"
            )
        }
        self.unmapped: dict[str, int] = defaultdict(int)

    def save(self, items: list[CartOrder | BadPayload]) -> None:
        """Store a batch; an order that comes twice is stored, then updated, in that order."""
        if not items:
            return
        items = [_storable(item) for item in items]
        with transaction.atomic():
            part: list[CartOrder | BadPayload] = []
            seen: set[str] = set()
            for item in items:
                if item.external_id in seen:
                    self._save(part)
                    part, seen = [], set()
                part.append(item)
                if item.external_id or isinstance(item, CartOrder):
                    seen.add(item.external_id)
            self._save(part)

    def _save(self, items: list[CartOrder | BadPayload]) -> None:
        """Store a batch in which no external id repeats."""
        ids = [i.external_id for i in items if i.external_id]
        known = {
            external_id: (pk, digest)
            for external_id, pk, digest in Order.objects.filter(
                cart=self.cart, external_id__in=ids
            ).values_list("external_id", "pk", "payload_hash")
        }
        digests = {i.external_id: _payload_hash(i.raw) for i in items if isinstance(i, CartOrder)}
        wanted = [
            known[i.external_id][0]
            for i in items
            if i.external_id in known
            and (isinstance(i, BadPayload) or digests[i.external_id] != known[i.external_id][1])
        ]
        loaded = Order.objects.defer("raw_payload").in_bulk(wanted) if wanted else {}
        fresh: list[tuple[Order, CartOrder]] = []
        changed: list[tuple[Order, CartOrder]] = []
        for item in items:
            hit = known.get(item.external_id)
            if isinstance(item, BadPayload):
                self._unreadable(item, loaded.get(hit[0]) if hit else None)
                continue
            if self._too_old(item):
                self.run.count("skipped_too_old")
                continue
            digest = digests[item.external_id]
            if hit is None:
                fresh.append((self._new_order(item, digest), item))
            elif hit[1] == digest:
                self.run.count("unchanged")
            else:
                changed.append((loaded[hit[0]], item))
        aliases = self._aliases([item for _, item in fresh + changed])
        self._update(changed, digests, aliases)
        self._create(fresh, aliases)

    def _aliases(self, items: list[CartOrder]) -> dict[str, str]:
        skus = {li.sku for i in items for li in i.lines}
        if not skus:
            return {}
        return dict(
            ProductAlias.objects.filter(merchant=self.merchant, alias__in=skus).values_list(
                "alias", "master_sku"
            )
        )

    def _too_old(self, item: CartOrder) -> bool:
        earliest = self.cart.earliest_order_date
        placed = _aware(item.placed_at)
        return bool(earliest and placed and placed.date() < earliest)

    def _fields(self, item: CartOrder, digest: str) -> dict[str, Any]:
        code = item.ship_method_code or ""
        return {
            "order_number": item.order_number[:100],
            "placed_at": _aware(item.placed_at),
            "cart_updated_at": _aware(item.updated_at),
            "customer_name": item.customer_name[:200],
            "customer_email": item.customer_email[:254],
            "ship_to": _address(item.ship_to),
            "bill_to": _address(item.bill_to),
            "ship_method_code": code[:200],
            "ship_method": self.mappings.get(code),
            "currency": item.currency[:3],
            "total": item.total,
            "notes": item.notes,
            "raw_payload": item.raw,
            "payload_hash": digest,
        }

    def _holds(self, item: CartOrder) -> list[str]:
        code = item.ship_method_code or ""
        if self.cart.reject_unmapped_ship_codes and code not in self.mappings:
            self.unmapped[code] += 1
            return [HoldReason.UNMAPPED_SHIP_METHOD]
        return []

    def _new_order(self, item: CartOrder, digest: str) -> Order:
        holds = self._holds(item)
        return Order(
            account_id=self.cart.account_id,
            merchant_id=self.cart.merchant_id,
            cart=self.cart,
            external_id=item.external_id[:100],
            order_source=self.cart.order_source,
            status=S.HELD if holds else S.NEW,
            hold_reasons=holds,
            **self._fields(item, digest),
        )

    def _lines(self, order: Order, item: CartOrder, aliases: dict[str, str]) -> list[OrderLine]:
        return [
            OrderLine(
                account_id=order.account_id,
                order=order,
                line_id=li.line_id[:100],
                sku=li.sku[:200],
                wms_sku=aliases.get(li.sku, li.sku)[:200],
                name=li.name[:500],
                quantity=li.quantity,
                price=li.price,
            )
            for li in item.lines
        ]

    def _create(self, fresh: list[tuple[Order, CartOrder]], aliases: dict[str, str]) -> None:
        if not fresh:
            return
        for order, item in fresh:
            if item.canceled:
                order.status, order.hold_reasons = S.CANCELED, []
        _insert([o for o, _ in fresh])
        lines, events = [], []
        for order, item in fresh:
            lines.extend(self._lines(order, item, aliases))
            events.append(
                OrderEvent(
                    account_id=order.account_id,
                    order=order,
                    kind=EventKind.DOWNLOADED,
                    message=f"Downloaded from {self.cart.order_source}.",
                )
            )
            if order.status == S.HELD:
                events.append(
                    OrderEvent(
                        account_id=order.account_id,
                        order=order,
                        kind=EventKind.HELD,
                        message=f"Held: ship method {order.ship_method_code!r} is not mapped to a "
                        "WMS ship method. Map it to release the order.",
                        data={"reason": HoldReason.UNMAPPED_SHIP_METHOD},
                    )
                )
            elif order.status == S.CANCELED:
                events.append(
                    OrderEvent(
                        account_id=order.account_id,
                        order=order,
                        kind=EventKind.CANCELED,
                        message="Already canceled in the cart.",
                    )
                )
        _insert(lines)
        _insert(events)
        self.run.count("new", len(fresh))
        if held := sum(1 for o, _ in fresh if o.status == S.HELD):
            self.run.count("held", held)

    def _update(
        self,
        changed: list[tuple[Order, CartOrder]],
        digests: dict[str, str],
        aliases: dict[str, str],
    ) -> None:
        """Apply changed payloads: one conditional update per order, lines and events in bulk."""
        updated: list[tuple[Order, CartOrder]] = []
        for order, item in changed:
            if self._changed_order(order, item, digests[item.external_id]):
                updated.append((order, item))
        if not updated:
            return
        OrderLine.objects.filter(order__in=[o.pk for o, _ in updated]).delete()
        _insert([line for o, item in updated for line in self._lines(o, item, aliases)])
        _insert(
            [
                OrderEvent(
                    account_id=o.account_id,
                    order=o,
                    kind=EventKind.UPDATED,
                    message="Updated from the cart.",
                )
                for o, _ in updated
            ]
        )
        self.run.count("updated", len(updated))

    def _changed_order(self, order: Order, item: CartOrder, digest: str) -> bool:
        """Apply one changed payload; return whether the order's lines must be replaced."""
        fields = self._fields(item, digest)
        if item.canceled:
            if order_services.order_cancel(order):
                self.run.count("canceled")
            Order.objects.filter(pk=order.pk).update(
                raw_payload=item.raw,
                payload_hash=digest,
                cart_updated_at=fields["cart_updated_at"],
            )
            return False
        editable = order.status in (S.NEW, S.HELD) or (
            order.status == S.ERROR and order.delivery_attempts == 0
        )
        if not editable:
            Order.objects.filter(pk=order.pk).update(
                raw_payload=item.raw,
                payload_hash=digest,
                cart_updated_at=fields["cart_updated_at"],
                updated_at=self.run.now,
            )
            order_services.order_event(
                order,
                EventKind.UPDATED,
                "Changed in the cart after delivery; the WMS keeps the order as delivered.",
            )
            self.run.count("changed_after_delivery")
            return False
        holds = sorted(
            {r for r in order.hold_reasons if r != HoldReason.UNMAPPED_SHIP_METHOD}
            | set(self._holds(item))
        )
        status = S.HELD if holds else S.NEW
        moved = Order.objects.filter(pk=order.pk, status=order.status).update(
            status=status, hold_reasons=holds, updated_at=self.run.now, last_error="", **fields
        )
        return bool(moved)

    def _unreadable(self, item: BadPayload, order: Order | None) -> None:
        reason = f"Order {item.external_id or '(no id)'} could not be read: {item.message}"
        self.run.item_failed(reason)
        if not item.external_id:
            self.run.log(f"Unreadable payload kept in this log: {str(item.raw)[:2000]}")
            return
        if order is not None:
            order_services.order_event(order, EventKind.ERROR, reason)
            return
        raw = item.raw if isinstance(item.raw, dict) else {"payload": item.raw}
        try:
            with transaction.atomic():
                created = Order.objects.create(
                    account_id=self.cart.account_id,
                    merchant_id=self.cart.merchant_id,
                    cart=self.cart,
                    external_id=item.external_id[:100],
                    order_number=item.external_id[:100],
                    order_source=self.cart.order_source,
                    status=S.ERROR,
                    raw_payload=raw,
                    payload_hash=_payload_hash(raw),
                    last_error=reason,
                )
                order_services.order_event(created, EventKind.ERROR, reason)
        except IntegrityError:
            pass

    def finish(self) -> None:
        """Report unmapped ship codes, keep the alert about them in step, poke delivery."""
        merchant = self.merchant
        for code, n in sorted(self.unmapped.items()):
            self.run.log(f"Ship method {code!r} is not mapped: {n} order(s) held.")
        unmapped_sync(merchant)
        if self.run.counts.get("new") and merchant.deliver_on_download:
            Schedule.objects.filter(
                merchant=merchant,
                cart__isnull=True,
                flow="delivery",
                enabled=True,
                next_run_at__gt=self.run.now,
            ).update(next_run_at=self.run.now)


def unmapped_sync(merchant: Any) -> None:
    """Open or resolve the merchant's alert about orders held for unmapped ship methods."""
    held = Order.objects.filter(merchant=merchant, status=S.HELD).values_list(
        "ship_method_code", "hold_reasons"
    )
    codes = sorted({code for code, reasons in held if HoldReason.UNMAPPED_SHIP_METHOD in reasons})
    key = f"merchant:{merchant.pk}:unmapped_ship_methods"
    if codes:
        alert_open(
            account_id=merchant.account_id,
            merchant_id=merchant.pk,
            key=key,
            kind="unmapped_ship_methods",
            message=f"{merchant}: orders are held for unmapped ship methods "
            f"{', '.join(repr(c) for c in codes)}. Map them to release the orders.",
        )
    else:
        alert_resolve(key)


# --- 2. Order delivery (hub → WMS) --------------------------------------------------------


def orders_deliver(run: RunContext) -> None:
    """Send the merchant's new orders to the WMS in batches; back off per order on failure."""
    merchant = run.schedule.merchant
    config = wms_config_of(merchant.account_id)
    adapter = wms_adapter(config)
    if adapter.mode == "pull":
        run.log("The WMS pulls orders itself; nothing to send.")
        return
    try:
        _orders_deliver_due(run, adapter, merchant)
    finally:
        adapter.close()


def _orders_deliver_due(run: RunContext, adapter: Any, merchant: Any) -> None:
    retry_in = timedelta(minutes=settings.DELIVERY_RETRY_MINUTES)
    horizon = timedelta(days=settings.DELIVERY_RETRY_HORIZON_DAYS)
    ref = merchant_ref(merchant)
    due = (
        Order.objects.filter(merchant=merchant, status=S.NEW)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=run.now))
        .select_related("ship_method", "cart")
        .prefetch_related("lines")
        .order_by("placed_at", "id")
    )
    for batch_number in range(settings.DELIVERY_MAX_BATCHES_PER_RUN):
        orders = list(due[: adapter.batch_size])
        if not orders:
            run.idle = batch_number == 0
            break
        by_key = {o.key: o for o in orders}
        try:
            results = adapter.deliver_orders(ref, [wms_order(o) for o in orders])
        except (AuthError, RateLimited):
            raise
        except AdapterError as exc:
            # The batch failed as a whole (WMS down, timeout): each order uses one attempt.
            for order in orders:
                order_services.order_delivery_failed(
                    order, error=exc.message, now=run.now, retry_in=retry_in, horizon=horizon
                )
            run.count("failed", len(orders))
            # A whole batch refused (WMS down) is when orders start being retried: say so now.
            delivery_errors_sync(merchant)
            raise
        answered = set()
        for result in results:
            answered_order = by_key.get(result.key)
            if answered_order is None:
                continue
            answered.add(result.key)
            if result.ok:
                if order_services.order_mark_delivered(answered_order, reference=result.reference):
                    run.count("delivered")
            else:
                status = order_services.order_delivery_failed(
                    answered_order,
                    error=result.error,
                    now=run.now,
                    retry_in=retry_in,
                    horizon=horizon,
                )
                run.item_failed(f"Order {answered_order}: the WMS refused it: {result.error}")
                if status == S.ERROR:
                    run.count("gave_up")
        for key in by_key.keys() - answered:
            order_services.order_delivery_failed(
                by_key[key],
                error="The WMS gave no answer for this order.",
                now=run.now,
                retry_in=retry_in,
                horizon=horizon,
            )
            run.item_failed(f"Order {by_key[key]}: the WMS gave no answer for it.")
        run.heartbeat()
    run.notes(adapter)
    delivery_errors_sync(merchant)


def wms_order(order: Order) -> WmsOrder:
    """Translate an order into what the WMS receives."""
    method: WmsShipMethod | None = order.ship_method
    return WmsOrder(
        key=order.key,
        order_number=order.order_number,
        order_source=order.order_source,
        placed_at=order.placed_at,
        ship_to=Address(**order.ship_to) if order.ship_to else Address(),
        ship_method=method.code if method else order.ship_method_code,
        carrier=method.carrier if method else "",
        lines=[
            WmsOrderLine(
                sku=li.wms_sku or li.sku,
                quantity=li.quantity,
                name=li.name,
                price=li.price,
                line_id=li.line_id,
            )
            for li in order.lines.all()
        ],
        customer_email=order.customer_email,
        notes=order.notes,
        merchant_settings=dict(order.merchant.wms_settings) if order.merchant_id else {},
        cart_settings=dict(order.cart.wms_settings),
    )


def delivery_errors_sync(merchant: Any) -> None:
    """Open or resolve the merchant's alerts about orders in error and orders being retried."""
    count = Order.objects.filter(merchant=merchant, status=S.ERROR).count()
    key = f"merchant:{merchant.pk}:order_errors"
    if count:
        alert_open(
            account_id=merchant.account_id,
            merchant_id=merchant.pk,
            key=key,
            kind="order_errors",
            message=f"{merchant}: {count} order(s) in error. Open each for the reason, fix it, "
            "then resend.",
        )
    else:
        alert_resolve(key)
    # Orders still inside their retry horizon: nobody should learn of a refusal only when,
    # days later, the hub gives up on it.
    retrying = Order.objects.filter(merchant=merchant, status=S.NEW, delivery_attempts__gt=0)
    first = retrying.order_by("first_failed_at", "id").first()
    key = f"merchant:{merchant.pk}:delivery_retrying"
    if first is not None:
        count = retrying.count()
        alert_open(
            account_id=merchant.account_id,
            merchant_id=merchant.pk,
            key=key,
            kind="delivery_retrying",
            message=f"{merchant}: {count} order(s) could not be delivered to the WMS and are "
            f"retried every {settings.DELIVERY_RETRY_MINUTES} minutes, up to "
            f"{settings.DELIVERY_RETRY_HORIZON_DAYS} days (first: order {first}: "
            f"{first.last_error}). Fix the cause, or hold or cancel the orders.",
        )
    else:
        alert_resolve(key)


# --- 3. Shipment confirmations (WMS → hub) ------------------------------------------------


def shipments_receive(run: RunContext) -> None:
    """Fetch packages the WMS shipped and store them against their orders."""
    merchant = run.schedule.merchant
    adapter = wms_adapter(wms_config_of(merchant.account_id))
    cursor = run.schedule.cursor
    since = cursor - OVERLAP if cursor else None
    newest = cursor
    failed_rows: list[str] = []
    for shipment in adapter.fetch_shipments(merchant_ref(merchant), since):
        if isinstance(shipment, BadPayload):
            run.item_failed(shipment.message)
            failed_rows.append(shipment.message)
            continue
        shipped_at = _aware(shipment.shipped_at)
        if shipped_at and (newest is None or shipped_at > newest):
            newest = min(shipped_at, run.now)
        order = order_for_shipment(merchant, shipment.order_key, shipment.order_number)
        if order is None:
            reason = (
                f"Shipment {shipment.tracking_number}: no order "
                f"{shipment.order_key or shipment.order_number} of {merchant} matches it."
            )
            run.item_failed(reason)
            failed_rows.append(reason)
            continue
        try:
            if shipment_record(order, shipment):
                run.count("shipments")
        except BadPayload as exc:
            run.item_failed(exc.message)
    run.cursor = newest
    run.notes(adapter)
    _rows_alert(merchant, "shipment_rows", failed_rows, "shipment confirmation")


def order_for_shipment(merchant: Any, key: str, number: str) -> Order | None:
    """Find the merchant's order a WMS shipment names, by the hub's key or a unique number."""
    orders = Order.objects.filter(merchant=merchant).select_related("cart")
    if key.startswith("H") and key[1:].isdigit():
        order = orders.filter(pk=int(key[1:])).first()
        if order is not None:
            return order
    if number:
        matches = list(orders.filter(order_number=number)[:2])
        if len(matches) == 1:
            return matches[0]
    return None


def shipment_record(order: Order, shipment: WmsShipment) -> bool:
    """Store one package once; move its order to shipped. Return whether it was new.

    Used by the ship-confirmation flow and by WMSes that post shipments to the API.
    """
    from carts.adapters import CART_KINDS

    tracking = shipment.tracking_number.strip()[:200]
    if not tracking:
        raise BadPayload(f"Order {order}: the WMS reported a shipment without tracking number.")
    takes_tracking = "shipments" in CART_KINDS.adapter_class(order.cart.kind).capabilities
    try:
        with transaction.atomic():
            stored, created = Shipment.objects.get_or_create(
                order=order,
                tracking_number=tracking,
                defaults={
                    "account_id": order.account_id,
                    "merchant_id": order.merchant_id,
                    "carrier": shipment.carrier[:100],
                    "service": shipment.service[:100],
                    "shipped_at": _aware(shipment.shipped_at),
                    "warehouse": shipment.warehouse,
                    "upload_state": UploadState.PENDING
                    if takes_tracking
                    else UploadState.NOT_APPLICABLE,
                },
            )
            if created:
                ShipmentLine.objects.bulk_create(_shipment_lines(order, stored, shipment.items))
                # In the package's own transaction: a tracking upload running at the same time
                # must never see a package of an order that is not shipped yet, or the upload
                # would find nothing to confirm and the order would stay shipped for good.
                marked = order_services.order_mark_shipped(order, tracking_number=tracking)
    except IntegrityError:
        return False
    if not created:
        return False
    if not marked:
        order_services.order_event(
            order, EventKind.SHIPMENT_RECEIVED, f"Another package shipped: {tracking}."
        )
    if not takes_tracking:
        order_services.order_confirm_if_complete(order)
    return True


def _shipment_lines(
    order: Order, shipment: Shipment, items: Iterable[ShipmentItem]
) -> list[ShipmentLine]:
    """Match shipped SKUs to order lines (by cart line id, else by WMS SKU with room left)."""
    lines = list(order.lines.all())
    room = {li.pk: li.quantity for li in lines}
    result = []
    for item in items:
        match = next((li for li in lines if item.line_id and li.line_id == item.line_id), None)
        if match is None:
            match = next(
                (li for li in lines if (li.wms_sku or li.sku) == item.sku and room[li.pk] > 0),
                None,
            )
        if match is not None:
            room[match.pk] -= item.quantity
        result.append(
            ShipmentLine(
                account_id=order.account_id,
                shipment=shipment,
                order_line=match,
                sku=item.sku[:200],
                quantity=item.quantity,
            )
        )
    return result


# --- 4. Shipment upload (hub → cart) ------------------------------------------------------


def shipments_upload(run: RunContext) -> None:
    """Upload each pending package's tracking to its cart; confirm complete orders."""
    cart = run.schedule.cart
    assert cart is not None
    adapter = cart_adapter(cart)
    retry_in = timedelta(minutes=settings.DELIVERY_RETRY_MINUTES)
    horizon = timedelta(days=settings.DELIVERY_RETRY_HORIZON_DAYS)
    pending = (
        Shipment.objects.filter(order__cart=cart, upload_state=UploadState.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=run.now))
        .select_related("order")
        .prefetch_related("lines__order_line")
        .order_by("created_at", "id")
    )
    batch = list(pending[: settings.SHIPMENT_UPLOAD_MAX_PER_RUN])
    run.idle = not batch
    for shipment in batch:
        order = shipment.order
        package = CartShipment(
            order_external_id=order.external_id,
            order_number=order.order_number,
            tracking_number=shipment.tracking_number,
            carrier=shipment.carrier,
            service=shipment.service,
            shipped_at=shipment.shipped_at,
            items=[
                ShipmentItem(
                    sku=line.order_line.sku if line.order_line else line.sku,
                    quantity=line.quantity,
                    line_id=line.order_line.line_id if line.order_line else "",
                )
                for line in shipment.lines.all()
            ],
        )
        try:
            adapter.upload_shipment(package)
        except (AuthError, RateLimited):
            raise
        except AdapterError as exc:
            if not exc.permanent:
                raise
            _shipment_upload_failed(shipment, exc.message, run, retry_in, horizon)
            continue
        # Marked uploaded and the order confirmed together: were the connection lost in
        # between, the order would stay shipped with nothing left to upload. Lost before the
        # commit, the next run uploads again, which the cart adapters recognise.
        with transaction.atomic():
            uploaded = Shipment.objects.filter(
                pk=shipment.pk, upload_state=UploadState.PENDING
            ).update(upload_state=UploadState.UPLOADED, uploaded_at=run.now, last_error="")
            if uploaded:
                shipment.upload_state = UploadState.UPLOADED
                order_services.order_event(
                    order,
                    EventKind.TRACKING_UPLOADED,
                    f"Tracking {shipment.tracking_number} uploaded to the cart.",
                )
                order_services.order_confirm_if_complete(order)
        if uploaded:
            run.count("uploaded")
        run.heartbeat()
    tracking_retrying_sync(cart)


def tracking_retrying_sync(cart: Any) -> None:
    """Open or resolve the cart's alert about tracking numbers it refused and that retry."""
    retrying = Shipment.objects.filter(
        order__cart=cart, upload_state=UploadState.PENDING, upload_attempts__gt=0
    )
    first = retrying.select_related("order").order_by("created_at", "id").first()
    key = f"cart:{cart.pk}:tracking_retrying"
    if first is None:
        alert_resolve(key)
        return
    alert_open(
        account_id=cart.account_id,
        merchant_id=cart.merchant_id,
        cart_id=cart.pk,
        kind="tracking_retrying",
        key=key,
        message=f"{cart}: {retrying.count()} tracking number(s) were refused by the cart and "
        f"are retried every {settings.DELIVERY_RETRY_MINUTES} minutes, up to "
        f"{settings.DELIVERY_RETRY_HORIZON_DAYS} days (first: {first.tracking_number} of "
        f"order {first.order}: {first.last_error}). Fix the cause in the cart.",
    )


def _shipment_upload_failed(
    shipment: Shipment, error: str, run: RunContext, retry_in: timedelta, horizon: timedelta
) -> None:
    first = shipment.created_at
    give_up = run.now - first >= horizon
    Shipment.objects.filter(pk=shipment.pk).update(
        upload_attempts=shipment.upload_attempts + 1,
        last_error=error,
        next_attempt_at=None if give_up else run.now + retry_in,
        upload_state=UploadState.FAILED if give_up else UploadState.PENDING,
    )
    order_services.order_event(
        shipment.order,
        EventKind.TRACKING_FAILED,
        f"The cart refused tracking {shipment.tracking_number}: {error}",
    )
    run.item_failed(f"Tracking {shipment.tracking_number} of order {shipment.order}: {error}")
    if give_up:
        alert_open(
            account_id=shipment.account_id,
            merchant_id=shipment.merchant_id,
            cart_id=shipment.order.cart_id,
            kind="tracking_failed",
            key=f"shipment:{shipment.pk}:failed",
            message=f"Tracking {shipment.tracking_number} of order {shipment.order} could not "
            f"be uploaded: {error}. Fix the cause, then resend the tracking.",
        )


# --- 5. Inventory (WMS → hub) -------------------------------------------------------------


def inventory_receive(run: RunContext) -> None:
    """Load the merchant's stock per SKU and warehouse from the WMS."""
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

    stored, skipped = inventory_record(merchant, readable(), now=run.now, on_batch=run.heartbeat)
    run.count("levels", stored)
    if skipped:
        run.item_failed(f"The WMS reported stock without a SKU {skipped} time(s); skipped.")
    run.notes(adapter)
    _rows_alert(merchant, "inventory_rows", failed_rows, "stock")


def _rows_alert(merchant: Any, kind: str, failed: list[str], what: str) -> None:
    """Open an alert naming unreadable rows the WMS sent; resolve it on a clean run."""
    key = f"merchant:{merchant.pk}:{kind}"
    if not failed:
        alert_resolve(key)
        return
    shown = "; ".join(failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
    alert_open(
        account_id=merchant.account_id,
        merchant_id=merchant.pk,
        key=key,
        kind=kind,
        message=f"{merchant}: {len(failed)} {what} record(s) from the WMS could not be "
        f"applied: {shown}. The rest was loaded; see the job log.",
    )


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


FLOWS: dict[str, Callable[[RunContext], None]] = {
    "download": orders_download,
    "delivery": orders_deliver,
    "ship_confirm": shipments_receive,
    "shipment_upload": shipments_upload,
    "inventory": inventory_receive,
    "inventory_upload": inventory_upload,
}


def orders_upload(cart: CartConnection, items: list[CartOrder | BadPayload], *, source: str) -> Any:
    """Store orders from a file uploaded by hand, as a download would; record it as a run.

    Returns the JobRun, whose counts and log say what happened to each order.
    """
    from sync.models import JobRun, Outcome, Trigger

    schedule = Schedule.objects.get(cart=cart, flow="download")
    run = RunContext(schedule=schedule, now=timezone.now())
    run.log(f"Orders uploaded by hand from {source}.")
    store = OrderStore(cart, run)
    for start in range(0, len(items), STORE_BATCH):
        store.save(items[start : start + STORE_BATCH])
    store.finish()
    return JobRun.objects.create(
        account_id=cart.account_id,
        merchant_id=cart.merchant_id,
        cart=cart,
        schedule=schedule,
        flow="download",
        trigger=Trigger.MANUAL,
        started_at=run.now,
        finished_at=timezone.now(),
        outcome=Outcome.PARTIAL if run.partial else Outcome.OK,
        counts=dict(run.counts),
        log="\n".join(run.lines),
    )


# --- Housekeeping -------------------------------------------------------------------------

PRUNE_CHUNK = 5000


def records_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete job runs past JOB_RUN_RETENTION_DAYS and webhook ids past their replay window.

    A webhook id only guards against replays while a replay could still be accepted, that is
    for WEBHOOK_MAX_AGE_SECONDS (kept twice as long for clocks that disagree). Deletes go in
    chunks so no one transaction holds many rows. Returns how many rows of each went.
    """
    now = now or timezone.now()
    cutoffs = {
        "job_runs": (JobRun, "started_at", now - timedelta(days=settings.JOB_RUN_RETENTION_DAYS)),
        "webhook_events": (
            WebhookEvent,
            "received_at",
            now - timedelta(seconds=2 * settings.WEBHOOK_MAX_AGE_SECONDS),
        ),
    }
    deleted: dict[str, int] = {}
    for name, (model, field_name, cutoff) in cutoffs.items():
        total = 0
        while True:
            ids = list(
                model._default_manager.filter(**{f"{field_name}__lt": cutoff}).values_list(
                    "pk", flat=True
                )[:PRUNE_CHUNK]
            )
            if not ids:
                break
            total += model._default_manager.filter(pk__in=ids).delete()[0]
        deleted[name] = total
    return deleted
