"""Order files over SFTP cut off midway, or met by a new host key: each order lands once.

The account's WMS takes CSV files over SFTP (the emulated SFTP server, loopback), orders come
from the emulated Shopify shop, and the warehouse simulator reads the order files on the
server's disk and answers with shipment files. The flows run in this process, the way a
worker runs them. For a file WMS "at the WMS exactly once" means: each order key is in
exactly one order file under its final name, and each package the warehouse shipped reached
the shop exactly once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.urls import reverse

from cartrover.adapters import CartOrder
from carts.models import CartConnection
from orders.models import HoldReason, Order, OrderStatus
from orders.services import order_hold, order_release
from sandbox.sftp_server import SftpEmulator
from sandbox.warehouse import WarehouseSimulator
from sync.models import Alert, JobRun, Outcome, Schedule
from sync.scheduler import schedule_run_once
from tests.reliability.world import SocketHub, socket_hub
from wms.adapters.csv_file.files import INVENTORY_LAYOUT, ORDER_LAYOUT, SHIPMENT_LAYOUT
from wms.files.layout import OrderLayout, read_orders
from wms.files.transports.local import LocalFolderTransport
from wms.files.transports.sftp import fetch_host_key, host_key_fingerprint
from wms.forms import WmsConfigForm
from wms.models import Health, WmsConfig

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

S = OrderStatus
USER = "hub-login"
PASSWORD = "Sftp-Pa55-of-the-hub"
FOLDER = "merchant-a"
FOLDERS = [f"{FOLDER}/{name}" for name in ("in", "out", "archive", "errors")]
SETTLED = {S.AT_WMS, S.SHIPPED, S.CONFIRMED, S.CANCELED}


@dataclass
class SftpHub:
    """The shop's orders going to a CSV-file warehouse behind an SFTP server."""

    socket_hub: SocketHub
    server: SftpEmulator
    warehouse: WarehouseSimulator

    @property
    def cart(self) -> CartConnection:
        return self.socket_hub.cart

    @property
    def home(self) -> Path:
        return self.server.root / USER / FOLDER

    def run(self, flow: str) -> JobRun:
        """Run one flow now, as a worker would for its schedule."""
        if flow in ("download", "shipment_upload", "inventory_upload"):
            schedule = Schedule.objects.get(cart=self.cart, flow=flow)
        else:
            schedule = Schedule.objects.get(merchant=self.cart.merchant, cart=None, flow=flow)
        run = schedule_run_once(schedule)
        assert run is not None, f"{flow} could not take its lease"
        return run

    def order_files(self, folder: str) -> list[str]:
        """Return the order files under their final names in one folder."""
        return sorted(
            p.name
            for p in (self.home / folder).iterdir()
            if p.name.startswith("orders_") and p.suffix == ".csv"
        )


@pytest.fixture
def hub(world, settings, tmp_path) -> Iterator[SftpHub]:
    # Retry a failed delivery at the next run instead of an hour later.
    settings.DELIVERY_RETRY_MINUTES = 0
    server = SftpEmulator(tmp_path / "sftp")
    server.add_user(USER, password=PASSWORD, folders=FOLDERS)
    server.start()
    shop_hub = socket_hub(world)
    # The account's warehouse takes CSV files over SFTP instead of its REST API.
    shop_hub.warehouse.stop()
    wms = shop_hub.wms
    wms.kind = "csv_file"
    wms.credentials = {"password": PASSWORD}
    wms.settings = {
        "transport": "sftp",
        "host": server.host,
        "port": server.port,
        "username": USER,
        "root": "/",
        "host_key": server.host_key_line(),
    }
    wms.save()
    merchant = world.merchant_a
    merchant.wms_settings = {"folder": FOLDER}
    merchant.save()
    warehouse = WarehouseSimulator(
        LocalFolderTransport(
            credentials={}, settings={"root": str(server.root / USER)}, connection_key="wh"
        ),
        order_layout=ORDER_LAYOUT,
        shipment_layout=SHIPMENT_LAYOUT,
        inventory_layout=INVENTORY_LAYOUT,
        orders_folder=f"{FOLDER}/in",
        out_folder=f"{FOLDER}/out",
        archive_folder=f"{FOLDER}/archive",
        errors_folder=f"{FOLDER}/errors",
    )
    yield SftpHub(socket_hub=shop_hub, server=server, warehouse=warehouse)
    shop_hub.stop()
    server.stop()


# --- The exactly-once check of a file warehouse ---------------------------------------------


def file_exactly_once_problems(hub: SftpHub) -> list[str]:
    """Return every broken promise, as sentences; an empty list means all is well."""
    problems: list[str] = []
    layout = OrderLayout.from_dict(ORDER_LAYOUT)
    in_files: Counter = Counter()
    for folder in ("in", "archive"):
        for name in hub.order_files(folder):
            keys = {
                item.external_id
                for item in read_orders(layout, (hub.home / folder / name).read_bytes())
                if isinstance(item, CartOrder)
            }
            in_files.update(keys)
    shop = hub.socket_hub.shop
    with shop.lock:
        taken = {str(order_id) for order_id in shop.orders}
        tracking_at_shop = Counter(
            number
            for fulfillment in shop.fulfillments.values()
            for number in fulfillment.get("tracking_numbers") or []
        )
    orders = {o.external_id: o for o in Order.objects.filter(cart=hub.cart)}
    missing = sorted(taken - set(orders))
    if missing:
        problems.append(f"orders the shop took but the hub never stored: {missing}")
    alerted = Alert.objects.filter(
        account_id=hub.cart.account_id,
        merchant_id__in=[hub.cart.merchant_id, None],
        resolved_at__isnull=True,
    ).exists()
    for order in orders.values():
        copies = in_files.get(order.key, 0)
        if copies > 1:
            problems.append(f"order {order.order_number} ({order.key}) is in {copies} files")
        if order.status not in SETTLED and not alerted:
            problems.append(
                f"order {order.order_number} ({order.key}) is stuck in {order.status} "
                "without an open alert"
            )
        if copies == 0 and order.status in SETTLED - {S.CANCELED}:
            problems.append(
                f"order {order.order_number} ({order.key}) is {order.status} but in no file"
            )
    for shipment in hub.warehouse.shipments:
        uploads = tracking_at_shop.get(shipment.tracking_number, 0)
        if uploads != 1:
            problems.append(
                f"tracking {shipment.tracking_number} reached the shop {uploads} times, not once"
            )
    return problems


def assert_each_order_in_one_file(hub: SftpHub) -> None:
    problems = file_exactly_once_problems(hub)
    assert not problems, "\n".join(problems)


def finish(hub: SftpHub, expected: int) -> None:
    """Let the warehouse take the files and ship; bring the tracking back to the shop."""
    received = hub.warehouse.step()
    assert received.orders_received == expected, received
    for flow in ("ship_confirm", "shipment_upload"):
        run = hub.run(flow)
        assert run.outcome == Outcome.OK, run.log
    assert Counter(hub.cart.orders.values_list("status", flat=True)) == {S.CONFIRMED: expected}


class FolderWatcher:
    """Read every final-named order file the moment it appears, as an eager warehouse would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[str, set[bytes]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> FolderWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            for path in self.folder.glob("orders_*.csv"):
                try:
                    self.seen.setdefault(path.name, set()).add(path.read_bytes())
                except OSError:
                    continue


# --- Scenarios ---------------------------------------------------------------------------


def test_an_upload_cut_off_midway_is_never_seen_half_and_lands_once(hub):
    hub.socket_hub.take_orders(6, notify=False)
    assert hub.run("download").outcome == Outcome.OK
    hub.server.disconnect_after(300)

    with FolderWatcher(hub.home / "in") as watcher:
        cut = hub.run("delivery")

        assert cut.outcome == Outcome.FAILED
        assert "cut" in hub.server.actions(USER)
        assert hub.order_files("in") == []
        # Claimed in their batch, which the retry sends again as it was.
        assert Counter(hub.cart.orders.values_list("status", flat=True)) == {S.SENDING: 6}
        retrying = Alert.objects.get(kind="delivery_retrying", resolved_at__isnull=True)
        assert "6 order(s)" in retrying.message

        retried = hub.run("delivery")

    assert retried.outcome == Outcome.OK, retried.log
    assert retried.counts["delivered"] == 6
    [name] = hub.order_files("in")
    complete = (hub.home / "in" / name).read_bytes()
    assert watcher.seen == {name: {complete}}, "a partial file was visible under its final name"
    assert not Alert.objects.filter(kind="delivery_retrying", resolved_at__isnull=True).exists()
    assert hub.run("delivery").counts.get("delivered", 0) == 0
    finish(hub, 6)
    assert_each_order_in_one_file(hub)


def test_held_orders_released_between_a_lost_answer_and_its_retry_never_resend_a_file(hub):
    """The file landed but its answer was lost; older held orders are released before the
    retry. The retry must send the same file (recognised as there), not a new selection."""
    hub.socket_hub.take_orders(6, notify=False)
    assert hub.run("download").outcome == Outcome.OK
    oldest = list(hub.cart.orders.order_by("placed_at", "id")[:2])
    for order in oldest:
        assert order_hold(order, reason=HoldReason.MANUAL)
    # The answer is lost and the server stays out of reach for the rest of the run.
    hub.server.disconnect_after_rename(then_unreachable_for=3)

    lost = hub.run("delivery")

    assert lost.outcome == Outcome.FAILED
    [landed] = hub.order_files("in")
    hub.server.clear_faults()  # reachable again
    for order in oldest:
        assert order_release(order)

    retried = hub.run("delivery")

    assert retried.outcome == Outcome.OK, retried.log
    assert retried.counts["delivered"] == 6
    assert len(hub.order_files("in")) == 2 and landed in hub.order_files("in")
    finish(hub, 6)
    assert_each_order_in_one_file(hub)


def accept_host_key(client, world, line: str) -> None:
    """Save a new host key in the WMS setup screen and test the connection, as an admin."""
    client.force_login(world.admin)
    form = WmsConfigForm(config=hub_config(world))
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {name: value for name, value in data.items() if not name.startswith("cred_")}
    data["set_host_key"] = line
    saved = client.post(reverse("wms_setup") + "?kind=csv_file", data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    tested = client.post(reverse("wms_test"), follow=True)
    assert tested.status_code == 200


def hub_config(world) -> WmsConfig:
    return WmsConfig.objects.get(account=world.account)


def test_a_new_host_key_is_refused_until_the_operator_accepts_it_then_lands_once(
    hub, world, client
):
    hub.socket_hub.take_orders(4, notify=False)
    assert hub.run("download").outcome == Outcome.OK
    new_key = hub.server.rotate_host_key()
    hub.server.operations.clear()

    refused = hub.run("delivery")

    assert refused.outcome == Outcome.FAILED
    new_fingerprint = host_key_fingerprint(new_key)
    assert "host key" in refused.error and new_fingerprint in refused.error
    assert "Verify the new fingerprint with the warehouse" in refused.error
    config = hub_config(world)
    assert config.health == Health.NEEDS_REAUTH
    assert "host key" in config.last_error
    alert = Alert.objects.get(kind="needs_reauth", resolved_at__isnull=True)
    assert new_fingerprint in alert.message
    assert set(hub.server.actions()) == {"connect"}, "something went past the key exchange"
    assert hub.order_files("in") == []
    paused = Schedule.objects.get(merchant=hub.cart.merchant, cart=None, flow="delivery")
    assert not paused.enabled
    assert Counter(hub.cart.orders.values_list("status", flat=True)) == {S.SENDING: 4}

    presented = fetch_host_key(hub.server.host, hub.server.port)
    assert host_key_fingerprint(presented) == new_fingerprint
    accept_host_key(client, world, presented)

    config = hub_config(world)
    assert config.health == Health.ACTIVE
    assert not Alert.objects.filter(kind="needs_reauth", resolved_at__isnull=True).exists()
    delivered = hub.run("delivery")
    assert delivered.outcome == Outcome.OK, delivered.log
    assert delivered.counts["delivered"] == 4
    finish(hub, 4)
    assert_each_order_in_one_file(hub)
