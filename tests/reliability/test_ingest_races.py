"""Two writers of one cart's orders at once: each order stored once, no batch or request lost.

A download, an API push and a file uploaded by hand all store orders through the same store.
Each race here is made deterministic: the first writer runs in a thread inside a transaction
the test keeps open; the second runs in another thread until PostgreSQL reports it waiting on
a lock; then the first commits and the second goes on. Each thread has its own connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cartrover.adapters import Address, CartOrder, CartOrderLine
from carts.adapters.csv_file.adapter import orders_from_upload
from carts.models import CartConnection
from carts.services import cart_adapter
from merchants.models import Membership, Role
from orders.models import EventKind, Order, OrderLine, OrderStatus
from sync.flows.context import RunContext
from sync.ingest import OrderStore
from sync.models import DeliveryBatch, JobRun, Schedule
from tests import factories
from tests.api.conftest import ApiClient, key_for, make_api_cart, order_body
from tests.carts.test_csv_cart import order_file
from tests.reliability.processes import uses_postgresql
from wms.adapters.csv_file.files import order_layout

pytestmark = pytest.mark.django_db(transaction=True)

S = OrderStatus
# Upper bounds only: a healthy run takes milliseconds.
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.01
AFTER_DELIVERY = "Changed in the cart after delivery; the WMS keeps the order as delivered."


@pytest.fixture(autouse=True)
def _postgresql_only():
    """The races need two connections with row locks; SQLite serialises every writer."""
    if not uses_postgresql():
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")


class InThread:
    """Run `work` in a thread on its own connection; with `hold`, keep its transaction open.

    A held writer commits only when the test calls `release()`, so another writer can be
    made to meet its uncommitted rows.
    """

    def __init__(self, work: Callable[[], Any], *, hold: bool = False) -> None:
        self.work = work
        self.hold = hold
        self.result: Any = None
        self.error: BaseException | None = None
        self.worked = threading.Event()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.hold:
                with transaction.atomic():
                    self.result = self.work()
                    self.worked.set()
                    if not self.released.wait(WAIT_SECONDS):
                        raise TimeoutError("the test never released this transaction")
            else:
                self.result = self.work()
        except BaseException as exc:
            self.error = exc
        finally:
            self.worked.set()
            connection.close()

    def wait_worked(self) -> None:
        assert self.worked.wait(WAIT_SECONDS), "the held writer never finished its work"
        assert self.error is None, f"the held writer failed: {self.error!r}"

    def release(self) -> None:
        self.released.set()

    def join(self) -> Any:
        self.released.set()
        self.thread.join(WAIT_SECONDS)
        assert not self.thread.is_alive(), "the writer did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def wait_until_blocked(writer: InThread) -> None:
    """Wait until `writer` waits on a lock another connection holds; fail if it never does.

    A writer that finished first (with an error, say) is left for `join` to report.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    for _ in range(int(WAIT_SECONDS / POLL_SECONDS)):
        if not writer.thread.is_alive():
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        if time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
    pytest.fail("the second writer never waited for the first one's transaction")


def cart_order(external_id: str, *, quantity: int = 1, note: str = "") -> CartOrder:
    """Return an order as a cart sends it, with one line of SKU-1."""
    return CartOrder(
        external_id=external_id,
        order_number=f"#{external_id}",
        updated_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
        placed_at=datetime(2024, 5, 1, 11, tzinfo=UTC),
        customer_name="Ana Ruiz",
        ship_to=Address(name="Ana Ruiz", address1="1 Harbor Road", city="Dayton", country="US"),
        ship_method_code="GROUND",
        lines=[CartOrderLine(line_id="L1", sku="SKU-1", quantity=quantity)],
        raw={"id": external_id, "quantity": quantity, "note": note},
    )


def download_store(cart) -> tuple[OrderStore, RunContext]:
    """Return the store a download of `cart` uses, and its run."""
    schedule = Schedule.objects.filter(cart=cart, flow="download").first()
    run = RunContext(schedule=schedule, now=timezone.now())  # type: ignore[arg-type]
    return OrderStore(cart, run), run


def stored_once(cart, external_ids: list[str]) -> dict[str, int]:
    counts = {external_id: 0 for external_id in external_ids}
    for external_id in Order.objects.filter(cart=cart).values_list("external_id", flat=True):
        counts[external_id] = counts.get(external_id, 0) + 1
    return counts


# --- A download, a push and an upload of the same cart -----------------------------------


def test_download_meeting_a_pushed_order_it_also_downloads_stores_each_order_once(world):
    cart = make_api_cart(world.merchant_a)
    key = key_for("cart", account=world.account, cart=cart)
    batch = {"orders": [order_body("p-1"), order_body("p-2")]}
    push = InThread(
        lambda: ApiClient(key).post(f"/api/v1/carts/{cart.pk}/orders/", batch), hold=True
    )
    push.wait_worked()
    store, run = download_store(cart)
    download = InThread(
        lambda: store.save([cart_order("p-1"), cart_order("p-2", quantity=3), cart_order("d-3")])
    )
    wait_until_blocked(download)
    push.release()

    response = push.join()
    download.join()

    assert response.status_code == 201
    assert [r["status"] for r in response.json()["results"]] == ["created", "created"]
    assert stored_once(cart, ["p-1", "p-2", "d-3"]) == {"p-1": 1, "p-2": 1, "d-3": 1}
    assert run.counts.get("failed", 0) == 0 and not run.partial
    assert run.counts["new"] == 1 and run.counts["updated"] == 2
    quantities = OrderLine.objects.filter(order__cart=cart).values_list(
        "order__external_id", "quantity"
    )
    assert sorted(quantities) == [("d-3", 1), ("p-1", 1), ("p-2", 3)]


def test_push_meeting_a_download_of_the_same_orders_reports_them_duplicate(world):
    cart = make_api_cart(world.merchant_a)
    key = key_for("cart", account=world.account, cart=cart)
    store, _ = download_store(cart)
    download = InThread(lambda: store.save([cart_order("d-1"), cart_order("d-2")]), hold=True)
    download.wait_worked()
    batch = {"orders": [order_body("d-1"), order_body("p-3"), order_body("d-2")]}
    push = InThread(lambda: ApiClient(key).post(f"/api/v1/carts/{cart.pk}/orders/", batch))
    wait_until_blocked(push)
    download.release()

    download.join()
    response = push.join()

    assert response.status_code == 201
    results = response.json()["results"]
    assert [(r["external_id"], r["status"]) for r in results] == [
        ("d-1", "duplicate"),
        ("p-3", "created"),
        ("d-2", "duplicate"),
    ]
    assert stored_once(cart, ["d-1", "d-2", "p-3"]) == {"d-1": 1, "d-2": 1, "p-3": 1}
    by_id = dict(Order.objects.filter(cart=cart).values_list("external_id", "pk"))
    assert [r["id"] for r in results] == [by_id["d-1"], by_id["p-3"], by_id["d-2"]]


def test_file_uploaded_by_hand_during_a_download_of_the_same_orders_fails_no_order(db, tmp_path):
    account = factories.AccountFactory(name="North")
    merchant = factories.MerchantFactory(account=account)
    cart = CartConnection.objects.create(
        account=account,
        merchant=merchant,
        kind="csv_file",
        order_source="Wholesale files",
        credentials={},
        setup={"transport": "local", "root": str(tmp_path)},
    )
    staff = factories.UserFactory()
    Membership.objects.create(user=staff, account=account, role=Role.STAFF)
    content = order_file(
        {"OrderNumber": "W-1", "ShipToName": "Ana Ruiz", "SKU": "SKU-1", "Quantity": "2"},
        {"OrderNumber": "W-2", "ShipToName": "Zoë Chen", "SKU": "SKU-3"},
        {"OrderNumber": "W-3", "ShipToName": "Kwame Mensah", "SKU": "SKU-1"},
    )
    layout = order_layout(cart_adapter(cart).setup.get("order_layout"), "the order layout")
    downloaded = [i for i in orders_from_upload(layout, content) if i.external_id != "W-3"]
    store, _ = download_store(cart)
    download = InThread(lambda: store.save(downloaded), hold=True)
    download.wait_worked()

    def upload() -> Any:
        client = Client()
        client.force_login(staff)
        return client.post(
            reverse("cart_upload", args=[cart.pk]),
            {"orders_file": SimpleUploadedFile("w.csv", content, "text/csv")},
        )

    uploading = InThread(upload)
    wait_until_blocked(uploading)
    download.release()

    download.join()
    response = uploading.join()

    assert response.status_code == 302
    assert stored_once(cart, ["W-1", "W-2", "W-3"]) == {"W-1": 1, "W-2": 1, "W-3": 1}
    uploaded = JobRun.objects.get(cart=cart, trigger="manual")
    assert uploaded.outcome == "ok", uploaded.log
    assert uploaded.counts.get("new") == 1 and uploaded.counts.get("unchanged") == 2


def test_order_written_by_another_path_during_a_batch_fails_no_other_order(world):
    cart = make_api_cart(world.merchant_a)
    # A row of the same order committed by something that does not go through the store.
    elsewhere = InThread(
        lambda: Order.objects.create(
            account=cart.account,
            merchant=cart.merchant,
            cart=cart,
            external_id="x-2",
            order_number="#x-2",
            order_source=cart.order_source,
        ),
        hold=True,
    )
    elsewhere.wait_worked()
    store, run = download_store(cart)
    download = InThread(lambda: store.save([cart_order(f"x-{n}") for n in (1, 2, 3)]))
    wait_until_blocked(download)
    elsewhere.release()

    elsewhere.join()
    download.join()

    assert stored_once(cart, ["x-1", "x-2", "x-3"]) == {"x-1": 1, "x-2": 1, "x-3": 1}
    # The batch is stored again order by order: the colliding order is found and updated.
    assert (run.counts["new"], run.counts["updated"]) == (2, 1)
    assert run.counts.get("failed", 0) == 0 and not run.partial
    lines = OrderLine.objects.filter(order__cart=cart).values_list("order__external_id", "sku")
    assert sorted(lines) == [("x-1", "SKU-1"), ("x-2", "SKU-1"), ("x-3", "SKU-1")]


# --- A cart edit meeting a delivery claim --------------------------------------------------


def test_cart_edit_of_an_order_being_claimed_for_delivery_keeps_the_lines_the_wms_gets(world):
    cart = make_api_cart(world.merchant_a)
    store, _ = download_store(cart)
    store.save([cart_order("c-1", quantity=2)])
    order = Order.objects.get(cart=cart, external_id="c-1")
    batch = DeliveryBatch.objects.create(
        account=cart.account, merchant=cart.merchant, wms_kind="dummy", order_count=1
    )
    # The delivery's claim: one conditional update, committed once the test says so.
    claim = InThread(
        lambda: Order.objects.filter(pk=order.pk, status=S.NEW).update(
            status=S.SENDING, delivery_batch=batch
        ),
        hold=True,
    )
    claim.wait_worked()
    edit_store, edit_run = download_store(cart)
    edited = cart_order("c-1", quantity=5, note="changed in the cart")
    edit = InThread(lambda: edit_store.save([edited]))
    wait_until_blocked(edit)
    claim.release()

    assert claim.join() == 1
    edit.join()

    order.refresh_from_db()
    assert order.status == S.SENDING and order.delivery_batch_id == batch.pk
    assert list(order.lines.values_list("sku", "quantity")) == [("SKU-1", 2)]
    assert edit_run.counts["changed_after_delivery"] == 1
    assert not edit_run.counts.get("updated")
    assert order.events.filter(kind=EventKind.UPDATED, message=AFTER_DELIVERY).count() == 1
    assert order.raw_payload == edited.raw
