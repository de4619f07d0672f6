"""Storing orders from a cart: a download, an API push or a file uploaded by hand.

Orders are upserted by (cart, external id) and compared by payload hash, so storing the same
orders twice changes nothing the second time. Orders the hub cannot store go to error with the
reason; the rest of the batch goes on.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from collections import defaultdict
from collections.abc import Generator, Iterator, Sequence
from dataclasses import fields as dataclass_fields
from dataclasses import is_dataclass
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Model
from django.utils import timezone

from cartrover.adapters import (
    Address,
    BadPayload,
    CartOrder,
)
from carts.models import CartConnection
from orders import services as order_services
from orders.models import (
    EventKind,
    HoldReason,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    ProductAlias,
    ShipMethodMapping,
)
from sync.alerts import alert_open, alert_resolve
from sync.flows.context import RunContext, aware, payload_hash
from sync.models import Schedule, schedules_poke

S = OrderStatus


STORE_BATCH = 250
# Orders whose stock the WMS may not have set aside yet (a `sending` order may be at the WMS
# or not: counting it keeps the stock sent to carts on the safe side).
NOT_AT_WMS = (S.NEW, S.HELD, S.SENDING, S.ERROR)


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


# What a store has reported so far: run counts, log length, partial, unmapped codes, failures.
_Mark = tuple[dict[str, int], int, bool, dict[str, int], dict[str, str]]


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
        # Why each order that failed was not stored, by external id.
        self.failures: dict[str, str] = {}

    def save(self, items: list[CartOrder | BadPayload]) -> dict[str, str]:
        """Store a batch; an order that comes twice is stored, then updated, in that order.

        Returns what happened to each order of the batch by external id: created, unchanged,
        updated, changed_after_delivery, canceled, skipped_too_old or failed (the reason is in
        `failures` and the run's log).

        The cart's row is locked first, so two stores of one cart (its download, an API push,
        a file uploaded by hand) take turns: the second sees the first one's orders as known.
        If an order still collides with one written meanwhile, that order alone fails.
        """
        if not items:
            return {}
        items = [_storable(item) for item in items]
        outcomes: dict[str, str] = {}
        with transaction.atomic():
            self.lock_cart()
            part: list[CartOrder | BadPayload] = []
            seen: set[str] = set()
            for item in items:
                if item.external_id in seen:
                    outcomes.update(self._save_apart_on_collision(part))
                    part, seen = [], set()
                part.append(item)
                if item.external_id or isinstance(item, CartOrder):
                    seen.add(item.external_id)
            outcomes.update(self._save_apart_on_collision(part))
        return outcomes

    def lock_cart(self) -> None:
        """Lock the cart's row until the current transaction ends, so stores of one cart
        take turns (SQLite, which runs one writer at a time, ignores the lock).

        FOR NO KEY UPDATE: stores of the cart wait for each other, while rows that only refer
        to the cart (runs, alerts) can still be written meanwhile.
        """
        list(
            CartConnection.objects.select_for_update(no_key=True)
            .filter(pk=self.cart.pk)
            .values_list("pk", flat=True)
        )

    def _save_apart_on_collision(self, items: list[CartOrder | BadPayload]) -> dict[str, str]:
        """Store a part of a batch; if it collides with rows written meanwhile, store each
        order of it on its own, so a collision fails one order, never the whole batch."""
        before = self._mark()
        try:
            with transaction.atomic():
                return self._save(items)
        except IntegrityError:
            self._undo(before)
        outcomes: dict[str, str] = {}
        for item in items:
            before = self._mark()
            try:
                with transaction.atomic():
                    outcomes.update(self._save([item]))
            except IntegrityError as exc:
                self._undo(before)
                outcomes[item.external_id] = self._collided(item, exc)
        return outcomes

    def _mark(self) -> _Mark:
        """Return the report as it stands, to go back to if the part is rolled back."""
        run = self.run
        return (
            dict(run.counts),
            len(run.lines),
            run.partial,
            dict(self.unmapped),
            dict(self.failures),
        )

    def _undo(self, mark: _Mark) -> None:
        """Forget what a rolled-back part reported: its counts, log lines and failures."""
        counts, lines, partial, unmapped, failures = mark
        self.run.counts.clear()
        self.run.counts.update(counts)
        del self.run.lines[lines:]
        self.run.partial = partial
        self.unmapped.clear()
        self.unmapped.update(unmapped)
        self.failures = failures

    def _collided(self, item: CartOrder | BadPayload, error: IntegrityError) -> str:
        """Fail one order the database refused even on its own; return "failed"."""
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        reason = (
            f"Order {item.external_id or '(no id)'} was not stored: the database refused it "
            f"({detail}), most likely because another process stored the same order at the "
            "same moment. The next download or push of it stores it."
        )
        self.failures[item.external_id] = reason
        self.run.item_failed(reason)
        return "failed"

    def _save(self, items: list[CartOrder | BadPayload]) -> dict[str, str]:
        """Store a batch in which no external id repeats; return each order's outcome.

        Changed orders are loaded under a row lock, so the status an edit is decided on is the
        status when it is written: an order claimed for delivery meanwhile is not edited.
        """
        ids = [i.external_id for i in items if i.external_id]
        known = {
            external_id: (pk, digest)
            for external_id, pk, digest in Order.objects.filter(
                cart=self.cart, external_id__in=ids
            ).values_list("external_id", "pk", "payload_hash")
        }
        digests = {i.external_id: payload_hash(i.raw) for i in items if isinstance(i, CartOrder)}
        wanted = [
            known[i.external_id][0]
            for i in items
            if i.external_id in known
            and (isinstance(i, BadPayload) or digests[i.external_id] != known[i.external_id][1])
        ]
        loaded = (
            {
                o.pk: o
                for o in Order.objects.defer("raw_payload")
                .select_for_update()
                .filter(pk__in=wanted)
                .order_by("pk")
            }
            if wanted
            else {}
        )
        fresh: list[tuple[Order, CartOrder]] = []
        changed: list[tuple[Order, CartOrder]] = []
        outcomes: dict[str, str] = {}
        for item in items:
            hit = known.get(item.external_id)
            if isinstance(item, BadPayload):
                self._unreadable(item, loaded.get(hit[0]) if hit else None)
                outcomes[item.external_id] = "failed"
                continue
            if self._too_old(item):
                self.run.count("skipped_too_old")
                outcomes[item.external_id] = "skipped_too_old"
                continue
            digest = digests[item.external_id]
            if hit is None:
                fresh.append((self._new_order(item, digest), item))
                outcomes[item.external_id] = "created"
            elif hit[1] == digest:
                self.run.count("unchanged")
                outcomes[item.external_id] = "unchanged"
            else:
                changed.append((loaded[hit[0]], item))
        aliases = self._aliases([item for _, item in fresh + changed])
        outcomes.update(self._update(changed, digests, aliases))
        self._create(fresh, aliases)
        return outcomes

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
        placed = aware(item.placed_at)
        return bool(earliest and placed and placed.date() < earliest)

    def _fields(self, item: CartOrder, digest: str) -> dict[str, Any]:
        code = item.ship_method_code or ""
        return {
            "order_number": item.order_number[:100],
            "placed_at": aware(item.placed_at),
            "cart_updated_at": aware(item.updated_at),
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
    ) -> dict[str, str]:
        """Apply changed payloads: one conditional update per order, lines and events in bulk.

        Returns each order's outcome; only orders edited here ("updated") get new lines.
        """
        outcomes: dict[str, str] = {}
        updated: list[tuple[Order, CartOrder]] = []
        for order, item in changed:
            outcome = self._changed_order(order, item, digests[item.external_id])
            outcomes[item.external_id] = outcome
            if outcome == "updated":
                updated.append((order, item))
        if not updated:
            return outcomes
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
        return outcomes

    def _changed_order(self, order: Order, item: CartOrder, digest: str) -> str:
        """Apply one changed payload; return "updated" when the order's lines must be replaced.

        An order the WMS may have (sending or at_wms) keeps what it was delivered with; only
        its payload is recorded, with an event. The order is loaded under a row lock, so its
        status here is its status when written; should the conditional update still find it
        moved, the status it has now decides.
        """
        fields = self._fields(item, digest)
        if item.canceled:
            canceled = order_services.order_cancel(order)
            if canceled:
                self.run.count("canceled")
            Order.objects.filter(pk=order.pk).update(
                raw_payload=item.raw,
                payload_hash=digest,
                cart_updated_at=fields["cart_updated_at"],
            )
            return "canceled" if canceled else "unchanged"
        for _ in range(2):
            if not self._editable(order):
                return self._changed_after_delivery(order, item, digest, fields)
            holds = sorted(
                {r for r in order.hold_reasons if r != HoldReason.UNMAPPED_SHIP_METHOD}
                | set(self._holds(item))
            )
            status = S.HELD if holds else S.NEW
            moved = Order.objects.filter(pk=order.pk, status=order.status).update(
                status=status, hold_reasons=holds, updated_at=self.run.now, last_error="", **fields
            )
            if moved:
                return "updated"
            current = (
                Order.objects.filter(pk=order.pk)
                .values("status", "hold_reasons", "delivery_attempts")
                .first()
            )
            if current is None:
                break
            order.status = current["status"]
            order.hold_reasons = current["hold_reasons"]
            order.delivery_attempts = current["delivery_attempts"]
        return "unchanged"

    @staticmethod
    def _editable(order: Order) -> bool:
        """Say whether a cart edit may change the order: the WMS does not have it."""
        return order.status in (S.NEW, S.HELD) or (
            order.status == S.ERROR and order.delivery_attempts == 0
        )

    def _changed_after_delivery(
        self, order: Order, item: CartOrder, digest: str, fields: dict[str, Any]
    ) -> str:
        """Record a cart edit of an order the WMS may have, without changing the order."""
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
        return "changed_after_delivery"

    def _unreadable(self, item: BadPayload, order: Order | None) -> None:
        reason = f"Order {item.external_id or '(no id)'} could not be read: {item.message}"
        self.run.item_failed(reason)
        self.failures[item.external_id] = reason
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
                    payload_hash=payload_hash(raw),
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
            delivery = Schedule.objects.filter(
                merchant=merchant, cart__isnull=True, flow="delivery", enabled=True
            )
            schedules_poke(delivery, self.run.now)


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
