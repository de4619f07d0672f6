"""Hostile order payloads from every cart kind: read or refused with a reason, never a crash.

Each mapper gets a well-formed order with fields dropped or replaced by anything JSON can
carry: wrong types, huge notes, many lines, negative, zero and enormous quantities, amounts
that are not numbers, unicode and right-to-left text. The mapper answers with an order or a
BadPayload and nothing else; an order it answers with can be stored as it is; and the store
keeps every order, or keeps it in `error` with the reason and the payload. One kind goes
through the whole download flow against its emulator.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.serializers import PushOrderSerializer
from cartrover.adapters import BadPayload, CartOrder
from carts.adapters.bigcommerce import mappers as bigcommerce
from carts.adapters.csv_file.adapter import CART_ORDER_LAYOUT, orders_from_upload
from carts.adapters.shopify import mappers as shopify
from carts.adapters.woocommerce import mappers as woocommerce
from carts.models import CartConnection
from orders.models import Order, OrderStatus
from sandbox.shopify import ShopifyEmulator
from sync.flows.context import RunContext
from sync.ingest import OrderStore
from sync.models import JobRun, Schedule
from sync.scheduler import schedule_run_once
from tests import factories
from tests.api.conftest import ApiClient, key_for, make_api_cart
from tests.hub import make_cart

FUZZ = hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
STORE_FUZZ = hypothesis_settings(FUZZ, max_examples=25)


@pytest.fixture
def merchant(db):
    """A merchant of its own account (no users: nothing here logs in)."""
    return factories.MerchantFactory(account=factories.AccountFactory(name="Fuzz"))


# --- What a hostile cart sends ---------------------------------------------------------------

# Hebrew and Arabic, wrapped in a right-to-left override.
RTL = (
    "\u202e\u05d8\u05e7\u05e1\u05d8 \u05de\u05d9\u05de\u05d9\u05df "
    "\u0645\u0631\u062d\u0628\u0627\u202c"
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            RTL,
            "Zoë \u200d👩‍👩‍👧 Groß",
            "=cmd|' /C calc'!A0",
            "\x00nul\x00",
            "a" * 100_000,
            "\ud7ff\ue000\uffff",
        ]
    ),
)
HOSTILE_NUMBER = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, -(2**31), 2**31, 2**63, 10**30, 1e308, -0.0, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "12.3456789", "-5", "0", "", "x"]),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | HOSTILE_NUMBER | HOSTILE_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
DROP = object()
HOSTILE_VALUE = st.one_of(st.just(DROP), JSON_VALUE, HOSTILE_TEXT, HOSTILE_NUMBER)


def _has(target: Any, step: Any) -> bool:
    if isinstance(target, dict):
        return step in target
    return isinstance(target, list) and isinstance(step, int) and step < len(target)


def _set(payload: Any, path: tuple[Any, ...], value: Any) -> None:
    """Replace (or with DROP remove) the value at `path`, where the path still exists."""
    target = payload
    for step in path[:-1]:
        if not _has(target, step):
            return
        target = target[step]
    last = path[-1]
    if isinstance(target, dict) and value is DROP:
        target.pop(last, None)
    elif value is not DROP and (isinstance(target, dict) or _has(target, last)):
        target[last] = value


def _paths(payload: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(payload, dict):
        for key, value in payload.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


@st.composite
def damaged(draw: st.DrawFn, base: Any) -> Any:
    """Return a copy of `base` with a few of its fields dropped or replaced."""
    payload = copy.deepcopy(base)
    paths = list(_paths(base))
    for path in draw(st.lists(st.sampled_from(paths), max_size=4)):
        _set(payload, path, draw(HOSTILE_VALUE))
    if draw(st.booleans()):
        # The whole payload may be something else altogether.
        return draw(st.one_of(st.just(payload), JSON_VALUE))
    return payload


def shopify_order(order_id: int = 4501, lines: int = 2) -> dict[str, Any]:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "order_number": order_id,
        "created_at": "2026-03-02T10:00:00-05:00",
        "updated_at": "2026-03-02T10:05:00-05:00",
        "cancelled_at": None,
        "closed_at": None,
        "financial_status": "paid",
        "fulfillment_status": None,
        "email": "ana@example.com",
        "currency": "USD",
        "total_price": "19.90",
        "note": "Leave at the door",
        "customer": {"first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com"},
        "shipping_address": {
            "first_name": "Ana",
            "last_name": "Ruiz",
            "address1": "1 Harbor Road",
            "city": "Dayton",
            "province_code": "OH",
            "zip": "45402",
            "country_code": "US",
        },
        "billing_address": None,
        "shipping_lines": [{"code": "GROUND", "title": "Ground"}],
        "line_items": [
            {
                "id": order_id * 10 + n,
                "sku": f"SKU-{n}",
                "name": "Blue mug",
                "quantity": 1,
                "fulfillable_quantity": 1,
                "price": "9.95",
                "requires_shipping": True,
            }
            for n in range(lines)
        ],
    }


def woocommerce_order(order_id: int = 727, lines: int = 2) -> dict[str, Any]:
    return {
        "id": order_id,
        "number": str(order_id),
        "status": "processing",
        "currency": "USD",
        "date_created_gmt": "2026-03-02T15:00:00",
        "date_modified_gmt": "2026-03-02T15:05:00",
        "total": "19.90",
        "customer_note": "Ring twice",
        "billing": {"first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com"},
        "shipping": {
            "first_name": "Ana",
            "last_name": "Ruiz",
            "address_1": "1 Harbor Road",
            "city": "Dayton",
            "state": "OH",
            "postcode": "45402",
            "country": "US",
        },
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate"}],
        "line_items": [
            {
                "id": n + 1,
                "sku": f"SKU-{n}",
                "name": "Mug &ndash; blue",
                "quantity": 1,
                "price": 9.95,
            }
            for n in range(lines)
        ],
    }


def bigcommerce_order(order_id: int = 100, lines: int = 2) -> dict[str, Any]:
    return {
        "order": {
            "id": order_id,
            "status_id": 11,
            "date_created": "Mon, 02 Mar 2026 15:00:00 +0000",
            "date_modified": "Mon, 02 Mar 2026 15:05:00 +0000",
            "currency_code": "USD",
            "total_inc_tax": "19.9000",
            "customer_message": "Gift",
            "billing_address": {"first_name": "Ana", "last_name": "Ruiz", "email": "a@b.example"},
        },
        "products": [
            {
                "id": n + 1,
                "sku": f"SKU-{n}",
                "name": "Mug",
                "quantity": 1,
                "quantity_refunded": 0,
                "price_inc_tax": "9.9500",
                "order_address_id": 1,
                "type": "physical",
            }
            for n in range(lines)
        ],
        "shipping_addresses": [
            {
                "id": 1,
                "first_name": "Ana",
                "last_name": "Ruiz",
                "street_1": "1 Harbor Road",
                "city": "Dayton",
                "zip": "45402",
                "country_iso2": "US",
                "shipping_method": "Ground",
            }
        ],
    }


def read_bigcommerce(raw: Any) -> CartOrder | BadPayload:
    """Read the three pieces the adapter fetches; the lists come from paged JSON arrays."""
    pieces = raw if isinstance(raw, dict) else {}
    order = pieces.get("order", raw)
    products = pieces.get("products", [])
    addresses = pieces.get("shipping_addresses", [])
    return bigcommerce.order_from_wire(
        order,
        products if isinstance(products, list) else [products],
        addresses if isinstance(addresses, list) else [addresses],
    )


MAPPERS: dict[str, tuple[Callable[[Any], CartOrder | BadPayload], Callable[..., Any]]] = {
    "shopify": (shopify.order_from_wire, shopify_order),
    "woocommerce": (woocommerce.order_from_wire, woocommerce_order),
    "bigcommerce": (read_bigcommerce, bigcommerce_order),
}


def assert_storable(item: CartOrder | BadPayload) -> None:
    """Check what a mapper answered is an order the hub can keep, or a refusal with a reason."""
    assert isinstance(item, CartOrder | BadPayload), type(item)
    if isinstance(item, BadPayload):
        assert item.message.strip()
        assert isinstance(item.external_id, str)
        return
    assert isinstance(item.external_id, str) and item.external_id
    assert isinstance(item.updated_at, datetime) and item.updated_at.tzinfo is not None
    assert item.total is None or isinstance(item.total, Decimal)
    for line in item.lines:
        assert isinstance(line.quantity, int) and not isinstance(line.quantity, bool)
        assert isinstance(line.sku, str) and isinstance(line.line_id, str)
        assert line.price is None or isinstance(line.price, Decimal)
    json.dumps(item.raw, default=str)


# --- 1. Each mapper: an order or a BadPayload, whatever it is given ---------------------------


@pytest.mark.parametrize("kind", sorted(MAPPERS))
def test_any_damaged_order_is_read_or_refused_with_a_reason(kind):
    read, base = MAPPERS[kind]

    @FUZZ
    @given(payload=damaged(base()))
    def check(payload: Any) -> None:
        assert_storable(read(payload))

    check()


@pytest.mark.parametrize("kind", sorted(MAPPERS))
def test_ten_thousand_lines_huge_notes_and_right_to_left_text_are_read(kind):
    read, base = MAPPERS[kind]
    payload = base(lines=10_000)
    text_fields = {"shopify": "note", "woocommerce": "customer_note", "bigcommerce": None}
    if text_fields[kind]:
        payload[text_fields[kind]] = RTL * 20_000
    else:
        payload["order"]["customer_message"] = RTL * 20_000

    item = read(payload)

    assert isinstance(item, CartOrder), getattr(item, "message", item)
    assert len(item.lines) == 10_000
    assert RTL in item.notes


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(MAPPERS))
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", 0),
        ("quantity", -1),
        ("quantity", -(2**31)),
        ("quantity", 2**40),
        ("quantity", 2**70),
        ("price", "NaN"),
        ("price", "1e400"),
        ("total", "Infinity"),
        ("total", "123456789012345"),
    ],
)
def test_numbers_the_warehouse_cannot_take_leave_the_order_in_error_and_the_rest_stored(
    kind, field, value, merchant, tmp_path
):
    read, base = MAPPERS[kind]
    bad, good = base(order_id=7, lines=1), base(order_id=8, lines=1)
    lines, price, total = {
        "shopify": ("line_items", "price", "total_price"),
        "woocommerce": ("line_items", "price", "total"),
        "bigcommerce": ("products", "price_inc_tax", "total_inc_tax"),
    }[kind]
    line = bad[lines][0]
    if field == "quantity":
        line["quantity"] = line["fulfillable_quantity"] = value
    elif field == "price":
        line[price] = value
    else:
        (bad["order"] if kind == "bigcommerce" else bad)[total] = value
    cart = make_cart(merchant, tmp_path)
    run = RunContext(schedule=Schedule.objects.get(cart=cart, flow="download"), now=timezone.now())

    OrderStore(cart, run).save([read(bad), read(good)])

    stored = {o.external_id: o for o in Order.objects.filter(cart=cart)}
    assert stored["8"].status == OrderStatus.NEW
    if "7" in stored and stored["7"].status != OrderStatus.ERROR:
        # Dropped by the mapper as nothing left to ship; what is kept ships whole units.
        assert all(1 <= li.quantity < 2**31 for li in stored["7"].lines.all())
        assert stored["7"].lines.count() == 0
    elif "7" in stored:
        assert stored["7"].last_error and stored["7"].raw_payload


# --- 2. The CSV cart's order files and the API cart's pushed orders ----------------------------

CSV_HEADERS = [c["header"] for c in CART_ORDER_LAYOUT["columns"]]


@st.composite
def order_files(draw: st.DrawFn) -> bytes:
    """Return an order file in the CSV cart's layout with hostile cells, or any bytes at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {},
                optional={h: st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER.map(str)) for h in CSV_HEADERS},
            ),
            max_size=6,
        )
    )
    buffer = io.StringIO()
    headers = draw(
        st.permutations(CSV_HEADERS).map(lambda h: h[: len(h) - draw(st.integers(0, 3))])
    )
    writer = csv.DictWriter(buffer, fieldnames=headers, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


@FUZZ
@given(data=order_files())
def test_any_order_file_uploaded_to_a_csv_cart_is_read_or_refused_with_a_reason(data):
    for item in orders_from_upload(CART_ORDER_LAYOUT, data):
        assert_storable(item)


PUSH_BASE = {
    "external_id": "5001",
    "order_number": "#5001",
    "customer_email": "ana@example.com",
    "ship_to": {"name": "Ana Ruiz", "address1": "1 Harbor Road", "city": "Dayton"},
    "ship_method_code": "GROUND",
    "total": "19.90",
    "notes": "",
    "lines": [{"line_id": "1", "sku": "SKU-1", "quantity": 2, "price": "9.95"}],
}


@FUZZ
@given(payload=damaged(PUSH_BASE))
def test_any_order_pushed_to_an_api_cart_is_validated_or_refused_with_field_errors(payload):
    checked = PushOrderSerializer(data=payload)
    if checked.is_valid():
        assert_storable(checked.to_cart_order(payload))
    else:
        assert checked.errors


@pytest.mark.django_db
def test_hostile_pushes_over_http_answer_4xx_or_store_and_never_fail(merchant):
    cart = make_api_cart(merchant)
    key = key_for("cart", account=merchant.account, merchant=merchant, cart=cart)
    client = ApiClient(key)

    @STORE_FUZZ
    @given(payload=damaged(PUSH_BASE))
    def push(payload: Any) -> None:
        with rolled_back():
            before = Order.objects.filter(cart=cart).count()
            response = client.post(f"/api/v1/carts/{cart.pk}/orders/", payload)
            assert response.status_code in (200, 201, 400), response.content[:500]
            stored = Order.objects.filter(cart=cart).count() - before
            assert stored == (1 if response.status_code == 201 else 0)

    push()


# --- 3. The store: every mapped order is kept, or kept in error with its reason ---------------


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run one example inside a savepoint that is undone, so examples start alike."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def assert_kept(cart: CartConnection, items: list[CartOrder | BadPayload]) -> None:
    for item in items:
        if not item.external_id:
            continue  # kept in the run's log: there is no id to keep an order under
        order = Order.objects.get(cart=cart, external_id=item.external_id[:100])
        if order.status == OrderStatus.ERROR:
            assert order.last_error.strip()
            assert order.raw_payload
            continue
        assert isinstance(item, CartOrder), f"{item.message} yet stored as {order.status}"
        assert order.status in (OrderStatus.NEW, OrderStatus.HELD, OrderStatus.CANCELED)
        assert order.lines.count() == len(item.lines)
        if order.status != OrderStatus.CANCELED:
            assert all(1 <= li.quantity < 2**31 for li in order.lines.all())


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(MAPPERS))
def test_the_store_keeps_every_mapped_order_or_its_error(kind, merchant, tmp_path):
    read, base = MAPPERS[kind]
    cart = make_cart(merchant, tmp_path)
    schedule = Schedule.objects.get(cart=cart, flow="download")

    @STORE_FUZZ
    @given(payloads=st.lists(damaged(base()), min_size=1, max_size=3))
    def store(payloads: list[Any]) -> None:
        items = [read(p) for p in payloads]
        # Each payload is a different order of the cart.
        for n, item in enumerate(items):
            if item.external_id:
                item.external_id = f"{n}-{item.external_id}"
        with rolled_back():
            run = RunContext(schedule=schedule, now=timezone.now())
            OrderStore(cart, run).save(items)
            assert_kept(cart, items)

    store()


# --- 4. A whole download from the Shopify emulator -------------------------------------------


@pytest.fixture
def shop(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    emulator = ShopifyEmulator(rate_limit=False)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def shopify_cart(merchant, shop) -> CartConnection:
    return CartConnection.objects.create(
        account=merchant.account,
        merchant=merchant,
        kind="shopify",
        order_source="Shopify",
        credentials={
            "shop_url": shop.base_url,
            "access_token": shop.access_token,
            "webhook_secret": shop.client_secret,
        },
        setup={"financial_statuses": ["any"], "fulfillment_status": "any", "page_size": 3},
    )


# Fields the emulator itself filters and pages on stay intact; everything else is fair game.
EMULATOR_FIELDS = {
    "id",
    "created_at",
    "updated_at",
    "cancelled_at",
    "closed_at",
    "financial_status",
    "fulfillment_status",
}


@st.composite
def shop_orders(draw: st.DrawFn) -> list[dict[str, Any]]:
    orders = []
    for n in range(draw(st.integers(1, 4))):
        base = shopify_order(order_id=9000 + n)
        payload = draw(damaged(base))
        if not isinstance(payload, dict):
            payload = {}
        payload.update({k: base[k] for k in EMULATOR_FIELDS})
        orders.append(payload)
    return orders


@pytest.mark.slow
@pytest.mark.django_db
def test_a_download_of_damaged_shopify_orders_keeps_each_and_moves_the_cursor_on(
    shop, shopify_cart
):
    schedule = Schedule.objects.get(cart=shopify_cart, flow="download")
    good = shopify_order(order_id=1)

    @hypothesis_settings(FUZZ, max_examples=12)
    @given(orders=shop_orders())
    def download(orders: list[dict[str, Any]]) -> None:
        stamp = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
        with shop.lock:
            shop.orders.clear()
            for order in [good, *orders]:
                shop.orders[order["id"]] = {**order, "created_at": stamp, "updated_at": stamp}
            shop._orders_by_id = None
        with rolled_back():
            run = schedule_run_once(schedule)
            assert run is not None
            assert run.outcome in ("ok", "partial"), run.error
            assert Order.objects.get(cart=shopify_cart, external_id="1").status == "new"
            for order in orders:
                kept = Order.objects.filter(cart=shopify_cart, external_id=str(order["id"]))
                item = shopify.order_from_wire(order)
                if isinstance(item, CartOrder) and not shopify.order_is_wanted(item, {"any"}):
                    assert not kept.exists()  # nothing to ship: not the warehouse's business
                    continue
                stored = kept.get()
                if isinstance(item, BadPayload) or stored.status == OrderStatus.ERROR:
                    # Unreadable, or with numbers no warehouse can take: kept with the reason.
                    assert stored.status == OrderStatus.ERROR
                    assert stored.last_error and stored.raw_payload
                else:
                    assert stored.status in ("new", "held", "canceled")
                    if stored.status != "canceled":
                        assert all(1 <= li.quantity < 2**31 for li in stored.lines.all())
            cursor = Schedule.objects.get(pk=schedule.pk).cursor
            assert cursor is not None and cursor >= datetime.fromisoformat(stamp)
            assert JobRun.objects.filter(schedule=schedule).count() == 1

    download()
