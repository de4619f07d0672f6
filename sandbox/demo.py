"""The living demo: two merchants' shops that keep taking orders, and a warehouse that ships.

Six cart emulators (a Shopify, a WooCommerce and a BigCommerce shop per merchant) and one
Extensiv 3PL Warehouse Manager emulator run on fixed loopback ports (DEMO_PORT_BASE + 1..6 and
+ 10; 8100 unless set), so the hub's seeded connections can point at them before they start.
A few orders a minute arrive in a random shop (some with ship methods nobody has mapped yet),
signed webhooks go to the hub, and the warehouse ships what it received after a short delay and
reports stock.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox import seed as seed_data
from sandbox.bigcommerce import BigCommerceEmulator
from sandbox.extensiv import ExtensivEmulator
from sandbox.shopify import ShopifyEmulator
from sandbox.woocommerce import WooCommerceEmulator

log = logging.getLogger(__name__)

CartEmulator = ShopifyEmulator | WooCommerceEmulator | BigCommerceEmulator

HOST = "127.0.0.1"
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 (a public demo value)
PORT_BASE = int(os.environ.get("DEMO_PORT_BASE", "8100"))
WAREHOUSE_PORT = PORT_BASE + 10
FACILITY_ID = 1


@dataclass(frozen=True)
class DemoShop:
    """One emulated shop of the demo and what the hub's cart needs to reach it."""

    merchant: str
    kind: str
    port: int
    customer_id: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def label(self) -> str:
        return {"shopify": "Shopify", "woocommerce": "WooCommerce", "bigcommerce": "BigCommerce"}[
            self.kind
        ]

    def emulator(self) -> CartEmulator:
        if self.kind == "shopify":
            return ShopifyEmulator(client_secret=WEBHOOK_SECRET, rate_limit=True)
        if self.kind == "woocommerce":
            return WooCommerceEmulator()
        return BigCommerceEmulator()

    def cart_credentials(self) -> dict[str, Any]:
        """Return the hub-side credentials of this shop's cart."""
        shop = self.emulator()  # defaults only: nothing is started
        if self.kind == "shopify":
            assert isinstance(shop, ShopifyEmulator)
            return {
                "shop_url": self.base_url,
                "access_token": shop.access_token,
                "webhook_secret": WEBHOOK_SECRET,
            }
        if self.kind == "woocommerce":
            assert isinstance(shop, WooCommerceEmulator)
            return {
                "store_url": self.base_url,
                "consumer_key": shop.consumer_key,
                "consumer_secret": shop.consumer_secret,
                "webhook_secret": WEBHOOK_SECRET,
            }
        assert isinstance(shop, BigCommerceEmulator)
        return {
            "api_base": self.base_url,
            "store_hash": shop.store_hash,
            "access_token": shop.access_token,
            "webhook_secret": WEBHOOK_SECRET,
        }


SHOPS = (
    DemoShop("Acme Outdoor", "shopify", PORT_BASE + 1, customer_id=1),
    DemoShop("Acme Outdoor", "woocommerce", PORT_BASE + 2, customer_id=1),
    DemoShop("Acme Outdoor", "bigcommerce", PORT_BASE + 3, customer_id=1),
    DemoShop("Blue Harbor Tea", "shopify", PORT_BASE + 4, customer_id=2),
    DemoShop("Blue Harbor Tea", "woocommerce", PORT_BASE + 5, customer_id=2),
    DemoShop("Blue Harbor Tea", "bigcommerce", PORT_BASE + 6, customer_id=2),
)


def warehouse_connection() -> dict[str, Any]:
    """Return the hub-side credentials and settings of the demo's Extensiv warehouse."""
    return {
        "credentials": ExtensivEmulator().credentials(),
        "settings": {"base_url": f"http://{HOST}:{WAREHOUSE_PORT}", "facility_id": FACILITY_ID},
    }


@dataclass
class Demo:
    """Run the demo's emulators and the two loops that keep them alive."""

    order_every_seconds: float = 20.0
    ship_after_seconds: float = 20.0
    initial_orders: int = 4
    seed: int = 7
    # While this file exists no new orders arrive (the soak test drains the demo this way).
    pause_file: Path | None = None
    # Where the loop writes what each shop and the warehouse hold, every few seconds.
    ledger_file: Path | None = None
    shops: dict[DemoShop, CartEmulator] = field(default_factory=dict)
    warehouse: ExtensivEmulator | None = None
    # The ids of the orders the loop added, by shop: what must reach the warehouse.
    created: dict[str, list[str]] = field(default_factory=dict)
    _created_lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Start every emulator on its port and the order and shipping loops."""
        rng = random.Random(self.seed)
        for spec in SHOPS:
            shop = spec.emulator()
            shop.start(HOST, spec.port)
            for order in seed_data.order_specs(
                self.initial_orders, rng.randint(0, 10**6), datetime.now(UTC) - timedelta(hours=1)
            ):
                shop.add_order(order, notify=False)
            self.shops[spec] = shop
        self.warehouse = ExtensivEmulator()
        self.warehouse.start(HOST, WAREHOUSE_PORT)
        for loop in (self._take_orders, self._ship):
            threading.Thread(target=loop, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        for shop in self.shops.values():
            shop.stop()
        if self.warehouse is not None:
            self.warehouse.stop()

    def ledger_write(self) -> None:
        """Write the ids of the orders the loop added and the warehouse's orders, as JSON.

        Written aside and renamed, so a reader sees a whole ledger or the previous one.
        """
        if self.ledger_file is None or self.warehouse is None:
            return
        with self._created_lock:
            ledger: dict[str, Any] = {"shops": {k: list(v) for k, v in self.created.items()}}
        with self.warehouse.lock:
            ledger["warehouse"] = [
                {
                    "reference": str(order.get("referenceNum", "")),
                    "canceled": int(order.get("readOnly", {}).get("status", 0)) == 2,
                }
                for order in self.warehouse.orders.values()
            ]
        partial = self.ledger_file.with_suffix(".part")
        partial.write_text(json.dumps(ledger))
        partial.replace(self.ledger_file)

    def _take_orders(self) -> None:
        rng = random.Random(self.seed + 1)
        while not self._stop.wait(self.order_every_seconds * rng.uniform(0.5, 1.5)):
            if self.pause_file is not None and self.pause_file.exists():
                continue
            spec, shop = rng.choice(list(self.shops.items()))
            # A fresh order, placed now (order_specs spreads orders over the past month).
            order = replace(
                seed_data.order_specs(1, rng.randint(0, 10**6), datetime.now(UTC))[0],
                placed_at=None,
            )
            try:
                added = shop.add_order(order)  # fires the signed webhooks the hub subscribed to
                with self._created_lock:
                    name = f"{spec.label} ({spec.merchant})"
                    self.created.setdefault(name, []).append(str(added["id"]))
                log.info("New order in %s of %s", spec.label, spec.merchant)
            except Exception:
                log.exception("Could not add an order to %s", spec.base_url)

    def _ship(self) -> None:
        assert self.warehouse is not None
        warehouse = self.warehouse
        stock: dict[tuple[int, str], int] = {}
        while not self._stop.wait(5.0):
            self.ledger_write()
            cutoff = datetime.now(UTC) - timedelta(seconds=self.ship_after_seconds)
            with warehouse.lock:
                waiting = [dict(o) for o in warehouse.orders.values()]
            for order in waiting:
                read_only = order.get("readOnly", {})
                if read_only.get("isClosed") or read_only.get("status") == 2:
                    continue
                created = str(read_only.get("creationDate", ""))
                try:
                    if (
                        datetime.fromisoformat(created.replace("Z", "+00:00")).replace(tzinfo=UTC)
                        > cutoff
                    ):
                        continue
                except ValueError:
                    pass
                order_id = int(read_only["orderId"])
                try:
                    warehouse.ship(order_id, tracking=f"1ZDEMO{order_id:08d}")
                except Exception:
                    log.exception("Could not ship order %s", order_id)
                    continue
                customer = int(order.get("customerIdentifier", {}).get("id", 0))
                for item in order.get("orderItems", []):
                    sku = str(item.get("itemIdentifier", {}).get("sku", ""))
                    key = (customer, sku)
                    stock[key] = stock.get(key, 500) - int(item.get("qty", 0))
                    warehouse.set_stock(customer, FACILITY_ID, sku, max(stock[key], 0))
