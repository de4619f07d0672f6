"""The order life cycle under any interleaving of cart changes, failures, crashes and ticks.

A Hypothesis state machine drives the sandbox store and the sandbox warehouse (ledger files
both sides write) through the real flows and the real scheduler: `schedules_claim` takes the
leases a tick would take and `schedule_run` runs them, on a clock the machine moves forward,
so leases expire and retries come due without waiting. A crashed worker is a claim whose runs
never start. After every step nothing reached the WMS or the cart twice; after a final drain
every order the cart took is at the WMS exactly once (or canceled before it got there, or
flagged with an open alert), and every package reached its cart exactly once.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cartrover.adapters import AdapterError
from carts.adapters.dummy.adapter import DummyCartAdapter
from carts.models import CartConnection
from orders import services as order_services
from orders.models import Order, OrderStatus, Shipment, UploadState
from sync import outbox
from sync.flows.context import RunContext, merchant_ref
from sync.models import Alert, BatchState, Schedule
from sync.scheduler import schedule_run, schedules_claim
from tests import factories
from tests.hub import make_cart
from wms.adapters.dummy.adapter import ledger_for as warehouse_ledger
from wms.models import WmsConfig, WmsShipMethod
from wms.services import wms_adapter

S = OrderStatus
FIRST_ORDERS = 2
MAX_ORDERS = 6
# Long enough for every retry to come due: order retries are hourly, schedule backoff at
# most an hour, and a lease lasts SYNC_LEASE_SECONDS.
DRAIN_STEP = timedelta(minutes=61)
DRAIN_TICKS = 8


class OrderLifecycle(RuleBasedStateMachine):
    """One merchant, one sandbox store, the sandbox warehouse, and a clock the test moves."""

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.folder = Path(tempfile.mkdtemp(prefix="lifecycle-"))
        account = factories.AccountFactory(name="Lifecycle")
        self.merchant = factories.MerchantFactory(account=account, name="Lifecycle Merchant")
        self.wms = WmsConfig.objects.create(
            account=account,
            kind="dummy",
            credentials={"api_key": "wms-key"},
            settings={"name": "lifecycle", "ledger_dir": str(self.folder), "failure": "none"},
        )
        for code, carrier in (("GROUND", "UPS"), ("EXPRESS", "FedEx")):
            WmsShipMethod.objects.create(account=account, code=code, carrier=carrier)
        self.cart = make_cart(
            self.merchant,
            self.folder,
            seed="lifecycle",
            order_count=FIRST_ORDERS,
            page_size=2,
            failure="none",
        )
        self.store = DummyCartAdapter(
            credentials={"api_key": "sandbox-key"},
            setup=dict(self.cart.setup),
            connection_key="lifecycle",
        )
        self.order_count = FIRST_ORDERS
        self.canceled_in_cart: set[str] = set()
        self.now = timezone.now()
        self.edits = 0

    # --- the world outside the hub ----------------------------------------------------------

    def _external_id(self, index: int) -> str:
        return f"lifecycle-{index % self.order_count + 1}"

    def _cart_setup(self, **changes: object) -> None:
        cart = CartConnection.objects.get(pk=self.cart.pk)
        CartConnection.objects.filter(pk=cart.pk).update(setup={**cart.setup, **changes})

    def _wms_settings(self, **changes: object) -> None:
        wms = WmsConfig.objects.get(pk=self.wms.pk)
        WmsConfig.objects.filter(pk=wms.pk).update(settings={**wms.settings, **changes})

    def _changed_now(self) -> datetime:
        # The store shows a change once its time has come in real time; every change is later
        # than the last, so the download cursor always has something newer to find.
        return datetime.now(UTC)

    @precondition(lambda self: self.order_count < MAX_ORDERS)
    @rule()
    def new_order_in_the_cart(self) -> None:
        self.order_count += 1
        self._cart_setup(order_count=self.order_count)
        self.store.change_order(
            f"lifecycle-{self.order_count}", updated_at=self._changed_now(), notes=""
        )

    @rule(index=st.integers(min_value=0, max_value=MAX_ORDERS))
    def edit_an_order_in_the_cart(self, index: int) -> None:
        self.edits += 1
        self.store.change_order(
            self._external_id(index), updated_at=self._changed_now(), notes=f"edit {self.edits}"
        )

    @rule(index=st.integers(min_value=0, max_value=MAX_ORDERS))
    def cancel_an_order_in_the_cart(self, index: int) -> None:
        external_id = self._external_id(index)
        self.canceled_in_cart.add(external_id)
        self.store.change_order(external_id, updated_at=self._changed_now(), canceled=True)

    @rule()
    def cart_answers_429_next(self) -> None:
        self._cart_setup(failure="rate_limit")

    @rule()
    def wms_times_out_after_accepting_next(self) -> None:
        self._wms_settings(failure="timeout_after_accept")

    @rule()
    def worker_crashes_after_claiming(self) -> None:
        # The tick leased every due schedule; the worker died before running any of them.
        schedules_claim(now=self.now)

    @rule(answered=st.booleans())
    def worker_dies_while_sending(self, answered: bool) -> None:
        # A worker claimed a batch of orders and died: before the WMS call, or after the WMS
        # took the orders but before the hub recorded the answer.
        schedule = Schedule.objects.get(merchant=self.merchant, cart=None, flow="delivery")
        run = RunContext(schedule=schedule, now=self.now)
        adapter = wms_adapter(WmsConfig.objects.get(pk=self.wms.pk))
        batch = outbox.batch_claim(self.merchant, adapter, run)
        if batch is not None and answered:
            orders = [outbox.payload_load(data) for data in batch.payload]
            # A timeout the WMS was told to give on its next call ends this worker the same way.
            with contextlib.suppress(AdapterError):
                adapter.deliver_orders(merchant_ref(self.merchant), orders)

    @rule(index=st.integers(min_value=0, max_value=MAX_ORDERS))
    def cancel_sending_by_hand(self, index: int) -> None:
        # A person stops an order; a claimed one is already on its way and stays as it is.
        order = Order.objects.filter(cart=self.cart, external_id=self._external_id(index)).first()
        if order is None:
            return
        was = order.status
        held = order_services.order_cancel_sending(order)
        assert held == (was in (S.NEW, S.HELD)), f"{order}: cancel sending from {was}"
        if held:
            order_services.order_release(order)

    @rule(minutes=st.sampled_from([1, 6, 16, 61]))
    def tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self._tick()

    def _tick(self) -> None:
        ids, token = schedules_claim(now=self.now)
        outcomes = set()
        for schedule_id in ids:
            run = schedule_run(schedule_id, token, now=self.now)
            assert run is not None, "a schedule claimed by this tick was not run"
            outcomes.add((run.flow, run.outcome))
        # "Next" failures happen once: the first call that met them is over.
        if any(outcome == "deferred" for _, outcome in outcomes):
            self._cart_setup(failure="none")
        if ("delivery", "failed") in outcomes:
            self._wms_settings(failure="none")

    # --- what must always hold ----------------------------------------------------------------

    def _wms_orders(self) -> Counter[str]:
        return Counter(r["key"] for r in self._wms_records())

    def _wms_records(self) -> list[dict]:
        return list(
            warehouse_ledger(WmsConfig.objects.get(pk=self.wms.pk).settings).records("order")
        )

    def _cart_packages(self) -> Counter[tuple[str, str]]:
        return Counter((r["order"], r["tracking"]) for r in self.store.ledger.records("shipment"))

    @invariant()
    def no_order_reaches_the_wms_twice(self) -> None:
        twice = {key: n for key, n in self._wms_orders().items() if n > 1}
        assert not twice, f"orders delivered more than once: {twice}"

    @invariant()
    def no_package_reaches_the_cart_twice(self) -> None:
        twice = {key: n for key, n in self._cart_packages().items() if n > 1}
        assert not twice, f"tracking uploaded more than once: {twice}"

    @invariant()
    def a_sending_order_belongs_to_an_open_batch(self) -> None:
        orphans = Order.objects.filter(cart=self.cart, status=S.SENDING).exclude(
            delivery_batch__state__in=(BatchState.SENDING, BatchState.RETRYING)
        )
        assert not orphans.exists(), f"sending without an open batch: {list(orphans)}"

    @invariant()
    def each_cart_order_is_stored_once(self) -> None:
        ids = Counter(Order.objects.filter(cart=self.cart).values_list("external_id", flat=True))
        assert all(n == 1 for n in ids.values()), ids

    def teardown(self) -> None:
        try:
            self._cart_setup(failure="none")
            self._wms_settings(failure="none")
            for _ in range(DRAIN_TICKS):
                self.now += DRAIN_STEP
                self._tick()
            self._check_drained()
        finally:
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)
            shutil.rmtree(self.folder, ignore_errors=True)

    def _check_drained(self) -> None:
        orders = {o.external_id: o for o in Order.objects.filter(cart=self.cart)}
        expected = {f"lifecycle-{i + 1}" for i in range(self.order_count)}
        assert set(orders) == expected, "every order the cart took is in the hub"
        at_wms = self._wms_orders()
        open_alerts = set(
            Alert.objects.filter(
                account_id=self.merchant.account_id, resolved_at__isnull=True
            ).values_list("key", flat=True)
        )
        for external_id, order in orders.items():
            delivered = at_wms.get(order.key, 0)
            assert delivered <= 1, f"{order} reached the WMS {delivered} times"
            if external_id in self.canceled_in_cart:
                if delivered == 0:
                    assert order.status == S.CANCELED, f"{order}: canceled in the cart only"
                elif order.status not in (S.SHIPPED, S.CONFIRMED):
                    # The hub learned of the cancel before the shipment: someone must stop
                    # the order in the WMS, or check whether it got there.
                    assert f"order:{order.pk}:canceled_after_delivery" in open_alerts, (
                        f"{order} reached the WMS and was canceled in the cart without an alert"
                    )
                continue
            if order.status in (S.ERROR, S.HELD):
                assert open_alerts, f"{order} is {order.status} without an open alert"
                continue
            assert delivered == 1, f"{order} ({order.status}) reached the WMS {delivered} times"
            assert order.status in (S.SHIPPED, S.CONFIRMED), f"{order} stuck in {order.status}"
        packages = self._cart_packages()
        shipped = Shipment.objects.filter(order__cart=self.cart).select_related("order")
        assert shipped.exists() or not at_wms
        for shipment in shipped:
            assert shipment.upload_state == UploadState.UPLOADED, shipment
            assert packages[(shipment.order.external_id, shipment.tracking_number)] == 1
        for record in self._wms_records():
            order = Order.objects.get(pk=int(record["key"][1:]))
            assert Shipment.objects.filter(order=order).count() >= 1, f"{order} never shipped"
        stuck = Schedule.objects.filter(
            account_id=self.merchant.account_id, lease_until__isnull=False
        )
        assert not stuck.exists(), "a lease was left behind after the drain"
        failing = Schedule.objects.filter(
            account_id=self.merchant.account_id, enabled=True, consecutive_failures__gt=0
        )
        assert not failing.exists(), "a flow still fails after the failures stopped"


@pytest.mark.django_db
def test_any_interleaving_of_cart_changes_failures_crashes_and_ticks_delivers_each_order_once():
    assert DRAIN_STEP.total_seconds() >= settings.SYNC_LEASE_SECONDS
    run_state_machine_as_test(
        OrderLifecycle,
        settings=hypothesis_settings(
            max_examples=12,
            stateful_step_count=14,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # A failing sequence is printed as it was found: shrinking whole hub runs takes
            # minutes.
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
        ),
    )
