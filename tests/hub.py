"""A working hub for tests: the sandbox warehouse and sandbox stores, on a ledger folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from carts.adapters.dummy.adapter import ledger_for as store_ledger
from carts.models import CartConnection
from orders.models import Order
from sandbox.ledger import Ledger
from sync.models import DeliveryBatch, Schedule
from sync.scheduler import schedule_run_once
from wms.adapters.dummy.adapter import ledger_for as warehouse_ledger
from wms.models import WmsConfig


@dataclass
class Hub:
    world: object
    wms: WmsConfig
    cart: CartConnection
    ledger_dir: Path

    @property
    def warehouse(self) -> Ledger:
        return warehouse_ledger(self.wms.settings)

    @property
    def store(self) -> Ledger:
        return store_ledger(self.cart.setup)

    def schedule(self, flow: str, cart: CartConnection | None = None) -> Schedule:
        if flow in ("download", "shipment_upload", "inventory_upload"):
            return Schedule.objects.get(cart=cart or self.cart, flow=flow)
        merchant = (cart or self.cart).merchant
        return Schedule.objects.get(merchant=merchant, cart=None, flow=flow)

    def run(self, flow: str, cart: CartConnection | None = None):
        run = schedule_run_once(self.schedule(flow, cart))
        assert run is not None, f"{flow} could not take its lease"
        return run

    def add_cart(self, merchant, **setup) -> CartConnection:
        return make_cart(merchant, self.ledger_dir, **setup)


def make_cart(
    merchant, ledger_dir: Path, *, reject_unmapped: bool = False, **setup
) -> CartConnection:
    seed = setup.pop("seed", f"shop{merchant.pk}")
    return CartConnection.objects.create(
        account=merchant.account,
        merchant=merchant,
        kind="dummy",
        order_source=f"Store {seed}",
        credentials={"api_key": "sandbox-key"},
        setup={"seed": seed, "ledger_dir": str(ledger_dir), **setup},
        reject_unmapped_ship_codes=reject_unmapped,
    )


def retry_time_passed() -> None:
    """Make every waiting delivery retry due now: orders refused and batches without answer."""
    past = timezone.now() - timedelta(seconds=1)
    Order.objects.filter(next_attempt_at__isnull=False).update(next_attempt_at=past)
    DeliveryBatch.objects.filter(next_attempt_at__isnull=False).update(next_attempt_at=past)
