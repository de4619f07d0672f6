"""A hub wired to emulated systems over real sockets, and the check every fault scenario ends with.

`socket_hub()` starts an emulated Shopify shop and an emulated Extensiv warehouse on loopback
and connects one merchant of the test account to them, the way the demo does.
`assert_exactly_once()` is the promise the hub makes whatever breaks: every order the shop
took is at the warehouse exactly once (or `held` / `error` with an open alert), every
shipment reached the shop exactly once, and nothing is stuck without an alert.
`tick()` and `travel()` drive the real scheduler at a test clock's time, so a scenario can
live through days of outage in seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cartrover.management.commands.seed_demo import MAPPED_CODES, WMS_METHODS
from carts.models import CartConnection
from orders.models import Order, OrderStatus, ShipMethodMapping
from sandbox import seed
from sandbox.clock import Clock, ManualClock
from sandbox.extensiv import CANCELED as WAREHOUSE_CANCELED
from sandbox.extensiv import ExtensivEmulator
from sandbox.shopify import ShopifyEmulator
from sync.models import Alert, JobRun, Schedule
from sync.scheduler import schedule_run, schedules_claim
from wms.models import Warehouse, WmsConfig, WmsShipMethod

CUSTOMER_ID = 7
FACILITY_ID = 3

# Statuses an order may rest in once every flow has run, without anyone being told.
SETTLED = {OrderStatus.AT_WMS, OrderStatus.CONFIRMED, OrderStatus.CANCELED}
# Statuses that say the WMS does not have the order.
NOT_AT_WMS = {OrderStatus.NEW, OrderStatus.HELD, OrderStatus.ERROR, OrderStatus.CANCELED}


@dataclass
class SocketHub:
    """One merchant's Shopify cart and the account's Extensiv warehouse, both emulated."""

    world: Any
    shop: ShopifyEmulator
    warehouse: ExtensivEmulator
    cart: CartConnection
    wms: WmsConfig
    extra: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        """Stop both emulators."""
        self.shop.stop()
        self.warehouse.stop()

    def take_orders(self, count: int, *, notify: bool = True) -> list[dict[str, Any]]:
        """Have the shop take `count` paid orders of one to three physical SKUs, mapped codes."""
        physical = [v.sku for p, v in seed.all_variants() if p.requires_shipping and v.sku]
        mapped = [m for m in seed.SHIP_METHODS if m.code in MAPPED_CODES]
        taken = []
        for n in range(count):
            start = len(self.shop.orders) + n
            lines = tuple(
                seed.LineSpec(physical[(start + i) % len(physical)], 1 + (start + i) % 3)
                for i in range(1 + start % 3)
            )
            spec = seed.order_for(
                seed.CUSTOMERS[start % len(seed.CUSTOMERS)],
                lines,
                ship_method=mapped[start % len(mapped)],
            )
            taken.append(self.shop.add_order(spec, notify=notify))
        return taken

    def download_and_delivery_only(self, *, delivery_interval: int = 60) -> None:
        """Turn off every flow but the cart's download and the merchant's delivery."""
        merchant = self.cart.merchant
        merchant.delivery_interval = delivery_interval
        merchant.ship_confirm_interval = merchant.inventory_interval = 0
        merchant.save()
        self.cart.shipment_upload_interval = 0
        self.cart.save()

    def ship_everything(self) -> list[str]:
        """Ship every open order at the warehouse (one package each); return the trackings."""
        with self.warehouse.lock:
            open_ids = [
                order_id
                for order_id, order in self.warehouse.orders.items()
                if not order["readOnly"].get("isClosed")
            ]
        return [
            self.warehouse.ship(order_id)["routingInfo"]["trackingNumber"] for order_id in open_ids
        ]


def socket_hub(
    world: Any,
    *,
    clock: Clock | None = None,
    shop_options: dict[str, Any] | None = None,
    shop_class: type[ShopifyEmulator] = ShopifyEmulator,
) -> SocketHub:
    """Start the emulators and connect `world.merchant_a` to them; the caller stops them.

    Merchant B is deactivated: nothing of it is connected, so its runs would only add noise.
    `shop_class` may be a ShopifyEmulator subclass that does something on purpose.
    """
    world.merchant_b.active = False
    world.merchant_b.save()
    shop = shop_class(clock=clock, **{"rate_limit": False, **(shop_options or {})})
    warehouse = ExtensivEmulator(clock=clock)
    shop.start()
    warehouse.start()
    account, merchant = world.account, world.merchant_a
    wms = WmsConfig.objects.create(
        account=account,
        kind="extensiv",
        credentials=warehouse.credentials(),
        settings={"base_url": warehouse.base_url, "facility_id": FACILITY_ID},
    )
    Warehouse.objects.create(account=account, code=str(FACILITY_ID), name="Main warehouse")
    methods = {
        code: WmsShipMethod.objects.create(
            account=account, code=code, description=description, carrier=carrier
        )
        for code, description, carrier in WMS_METHODS
    }
    merchant.wms_settings = {"customer_id": CUSTOMER_ID}
    merchant.save()
    for cart_code, method in MAPPED_CODES.items():
        ShipMethodMapping.objects.create(
            account=account, merchant=merchant, cart_code=cart_code, ship_method=methods[method]
        )
    cart = CartConnection.objects.create(
        account=account,
        merchant=merchant,
        kind="shopify",
        order_source="Shopify",
        credentials={
            "shop_url": shop.base_url,
            "access_token": shop.access_token,
            "webhook_secret": shop.client_secret,
        },
        reject_unmapped_ship_codes=True,
    )
    return SocketHub(world=world, shop=shop, warehouse=warehouse, cart=cart, wms=wms)


def _open_alert_for(order: Order) -> bool:
    return (
        Alert.objects.filter(account_id=order.account_id, resolved_at__isnull=True)
        .filter(merchant_id__in=[order.merchant_id, None])
        .exists()
    )


def exactly_once_problems(hub: SocketHub) -> list[str]:
    """Return every broken promise, as sentences; an empty list means all is well."""
    problems: list[str] = []
    with hub.shop.lock:
        taken = {str(order_id) for order_id in hub.shop.orders}
        tracking_at_shop = Counter(
            number
            for fulfillment in hub.shop.fulfillments.values()
            for number in fulfillment.get("tracking_numbers") or []
        )
    with hub.warehouse.lock:
        # Orders the warehouse canceled are not at the warehouse any more.
        at_warehouse = Counter(
            o["referenceNum"]
            for o in hub.warehouse.orders.values()
            if o["readOnly"].get("status") != WAREHOUSE_CANCELED
        )
        shipped_at_warehouse = {
            o["referenceNum"]: [
                p["trackingNumber"]
                for p in o["readOnly"].get("packages", [])
                if p["trackingNumber"]
            ]
            for o in hub.warehouse.orders.values()
            if o["readOnly"].get("isClosed") and o["readOnly"].get("packages")
        }

    orders = {o.external_id: o for o in Order.objects.filter(cart=hub.cart)}
    missing = sorted(taken - set(orders))
    if missing:
        problems.append(f"orders the shop took but the hub never stored: {missing}")
    for _external_id, order in sorted(orders.items()):
        copies = at_warehouse.get(order.key, 0)
        alerted = order.status not in SETTLED and _open_alert_for(order)
        if copies > 1:
            problems.append(
                f"order {order.order_number} ({order.key}) is at the WMS {copies} times"
            )
        elif copies == 1 and order.status in NOT_AT_WMS and not _open_alert_for(order):
            problems.append(
                f"order {order.order_number} ({order.key}) is at the WMS but the hub shows it "
                f"{order.status}, without an open alert"
            )
        elif copies == 0 and order.status != OrderStatus.CANCELED and not alerted:
            problems.append(
                f"order {order.order_number} ({order.key}) never reached the WMS "
                f"and is {order.status} without an open alert"
            )
        if order.status not in SETTLED and not alerted:
            problems.append(
                f"order {order.order_number} ({order.key}) is stuck in {order.status} "
                "without an open alert"
            )
    for reference, trackings in sorted(shipped_at_warehouse.items()):
        for number in trackings:
            uploads = tracking_at_shop.get(number, 0)
            if uploads != 1:
                problems.append(
                    f"tracking {number} of {reference} reached the shop {uploads} times, not once"
                )
    return problems


def assert_exactly_once(hub: SocketHub) -> None:
    """Fail with every broken promise listed when any order or shipment is lost or doubled."""
    problems = exactly_once_problems(hub)
    assert not problems, "\n".join(problems)


# --- Time travel: the hub's tick driven by a test's clock ---------------------------------


def tick(now: datetime) -> list[JobRun]:
    """Claim the schedules due at `now` and run each at `now`, as beat's tick and a worker do."""
    ids, token = schedules_claim(now=now)
    runs = [schedule_run(schedule_id, token, now=now) for schedule_id in ids]
    return [run for run in runs if run is not None]


def travel(clock: ManualClock, until: datetime, *, max_ticks: int = 5000) -> list[JobRun]:
    """Move `clock` from one due schedule to the next up to `until`, ticking at each; return
    the runs.

    Nothing happens between two due times, so jumping from one to the next is the same as a
    beat ticking every few seconds, only without the wait. The emulators read `clock` too, so
    the shop and the warehouse live in the same time as the hub.
    """
    runs: list[JobRun] = []
    for _ in range(max_ticks):
        now = clock.now()
        runs += tick(now)
        due = (
            Schedule.objects.filter(enabled=True)
            .order_by("next_run_at")
            .values_list("next_run_at", flat=True)
            .first()
        )
        if due is None or due > until:
            clock.set(max(until, now))
            return runs
        # A schedule poked during this tick is due at once; give it the next second.
        clock.set(max(due, now + timedelta(seconds=1)))
    raise AssertionError(f"still ticking after {max_ticks} ticks, before {until:%Y-%m-%d %H:%M}")
