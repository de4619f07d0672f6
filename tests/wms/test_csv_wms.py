"""The CSV file WMS end to end: the real flows, real SFTP/FTP/mail servers on 127.0.0.1 and the
warehouse simulator answering with shipment and stock files."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from cartrover.adapters import AdapterError
from orders.models import InventoryLevel, OrderStatus, Shipment
from sandbox.ftp_server import FtpEmulator
from sandbox.mail_server import ImapEmulator, SmtpSink
from sandbox.sftp_server import SftpEmulator
from sandbox.warehouse import WarehouseSimulator
from sync import outbox
from sync.flows.context import RunContext, merchant_ref
from sync.models import Alert, DeliveryBatch, Outcome
from sync.outbox import wms_order
from tests import factories
from tests.hub import Hub, make_cart, retry_time_passed
from wms.adapters.csv_file.files import INVENTORY_LAYOUT, ORDER_LAYOUT, SHIPMENT_LAYOUT
from wms.files.transports.email import EmailTransport
from wms.files.transports.local import LocalFolderTransport
from wms.models import Health, WmsConfig, WmsShipMethod
from wms.services import wms_adapter

pytestmark = pytest.mark.django_db

S = OrderStatus
USER = "hub-login"
PASSWORD = "Sftp-Pa55-of-the-hub"
MERCHANT = "merchant-a"
FOLDERS = [f"{MERCHANT}/{name}" for name in ("in", "out", "archive", "errors")]
HORIZONTAL = {**ORDER_LAYOUT, "mode": "horizontal", "max_items": 5}


@pytest.fixture(autouse=True)
def private_targets(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture
def world(db) -> SimpleNamespace:
    """An account with one merchant and no users (hashing passwords is what makes it slow)."""
    account = factories.AccountFactory(name="North")
    merchant = factories.MerchantFactory(account=account, wms_settings={"folder": MERCHANT})
    return SimpleNamespace(account=account, merchant_a=merchant)


def csv_hub(world, tmp_path: Path, credentials: dict[str, Any], **settings: Any) -> Hub:
    wms = WmsConfig.objects.create(
        account=world.account, kind="csv_file", credentials=credentials, settings=settings
    )
    for code, carrier in (("GROUND", "UPS"), ("EXPRESS", "FedEx")):
        WmsShipMethod.objects.create(account=world.account, code=code, carrier=carrier)
    cart = make_cart(world.merchant_a, tmp_path, order_count=6, page_size=4)
    return Hub(world=world, wms=wms, cart=cart, ledger_dir=tmp_path)


def simulator(root: Path, order_layout: dict[str, Any] = ORDER_LAYOUT) -> WarehouseSimulator:
    """Return the warehouse working on the server's own disk, as a warehouse does."""
    return WarehouseSimulator(
        LocalFolderTransport(credentials={}, settings={"root": str(root)}, connection_key="wh"),
        order_layout=order_layout,
        shipment_layout=SHIPMENT_LAYOUT,
        inventory_layout=INVENTORY_LAYOUT,
        orders_folder=f"{MERCHANT}/in",
        out_folder=f"{MERCHANT}/out",
        archive_folder=f"{MERCHANT}/archive",
        errors_folder=f"{MERCHANT}/errors",
    )


def statuses(hub: Hub) -> Counter:
    return Counter(hub.cart.orders.values_list("status", flat=True))


def files(root: Path, folder: str) -> list[str]:
    return sorted(p.name for p in (root / MERCHANT / folder).iterdir() if p.is_file())


def run_orders_through(hub: Hub, warehouse: WarehouseSimulator) -> None:
    """Download, deliver, ship in the warehouse, confirm, load stock and upload tracking."""
    assert hub.run("download").counts["new"] == 6
    delivery = hub.run("delivery")
    assert delivery.outcome == Outcome.OK, delivery.log
    assert delivery.counts["delivered"] == 6
    assert statuses(hub) == {S.AT_WMS: 6}

    step = warehouse.step()
    assert step.orders_received == 6 and step.bad_orders == []
    assert Counter(warehouse.received) == {o.key: 1 for o in hub.cart.orders.all()}

    confirm = hub.run("ship_confirm")
    assert confirm.outcome == Outcome.OK, confirm.log
    assert confirm.counts["shipments"] == 6
    assert statuses(hub) == {S.SHIPPED: 6}
    assert "6 shipments →" in confirm.log

    inventory = hub.run("inventory")
    assert inventory.outcome == Outcome.OK, inventory.log
    shipped = Counter()
    for package in warehouse.shipments:
        for item in package.items:
            shipped[item.sku] += item.quantity
    levels = dict(
        InventoryLevel.objects.filter(merchant=hub.cart.merchant).values_list("sku", "quantity")
    )
    assert levels == {sku: 100 - n for sku, n in shipped.items()}

    upload = hub.run("shipment_upload")
    assert upload.counts["uploaded"] == 6
    assert statuses(hub) == {S.CONFIRMED: 6}
    assert {r["tracking"][:5] for r in hub.store.records("shipment")} == {"1ZSIM"}


# --- SFTP --------------------------------------------------------------------------------------


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[SftpEmulator]:
    emulator = SftpEmulator(tmp_path / "sftp")
    emulator.add_user(USER, password=PASSWORD, folders=FOLDERS)
    with emulator:
        yield emulator


def sftp_hub(world, tmp_path: Path, server: SftpEmulator, **settings: Any) -> Hub:
    return csv_hub(
        world,
        tmp_path,
        {"password": PASSWORD},
        transport="sftp",
        host=server.host,
        port=server.port,
        username=USER,
        root="/",
        host_key=server.host_key_line(),
        **settings,
    )


@pytest.mark.parametrize("layout", [ORDER_LAYOUT, HORIZONTAL], ids=["vertical", "horizontal"])
def test_orders_go_out_as_one_csv_file_over_sftp_and_shipments_and_stock_come_back(
    world, tmp_path, sftp, layout
):
    hub = sftp_hub(world, tmp_path, sftp, order_layout=layout)
    home = sftp.root / USER
    warehouse = simulator(home, layout)

    run_orders_through(hub, warehouse)

    [order_file] = [n for n in files(home, "archive") if n.startswith(f"orders_{MERCHANT}_")]
    assert order_file.endswith(".csv")
    header = (home / MERCHANT / "archive" / order_file).read_text().splitlines()[0]
    assert ("SKU_1" in header) == (layout is HORIZONTAL)
    archived = files(home, "archive")
    assert len([n for n in archived if n.startswith("shp_")]) == 1
    assert len([n for n in archived if n.startswith("inv_")]) == 1
    assert files(home, "out") == [] and files(home, "in") == [] and files(home, "errors") == []
    assert {o.delivery_reference for o in hub.cart.orders.all()} == {order_file}


def test_the_same_shipment_file_dropped_twice_is_loaded_once(world, tmp_path, sftp):
    hub = sftp_hub(world, tmp_path, sftp)
    home = sftp.root / USER
    run_orders_through(hub, simulator(home))
    [shipment_file] = [n for n in files(home, "archive") if n.startswith("shp_")]
    shutil.copy(home / MERCHANT / "archive" / shipment_file, home / MERCHANT / "out")

    again = hub.run("ship_confirm")

    assert again.outcome == Outcome.OK, again.log
    assert again.counts.get("shipments", 0) == 0
    assert Shipment.objects.filter(order__cart=hub.cart).count() == 6
    assert files(home, "out") == []
    assert len([n for n in files(home, "archive") if n.startswith("shp_")]) == 2


def test_bad_row_and_unknown_order_are_reported_and_the_good_row_loads(world, tmp_path, sftp):
    hub = sftp_hub(world, tmp_path, sftp)
    home = sftp.root / USER
    hub.run("download")
    hub.run("delivery")
    first, second = hub.cart.orders.order_by("id")[:2]
    sku = first.lines.first().wms_sku
    stamp = "2026-11-20T10:00:00+00:00"
    (home / MERCHANT / "out" / "shp_manual.csv").write_text(
        "OrderKey,OrderNumber,TrackingNumber,Carrier,Service,ShipDate,Warehouse,SKU,Quantity\r\n"
        f"{first.key},{first.order_number},1ZGOOD1,UPS,GROUND,{stamp},MAIN,{sku},1\r\n"
        f",NOPE-999,1ZUNKNOWN1,UPS,GROUND,{stamp},MAIN,SKU-1,1\r\n"
        f"{second.key},{second.order_number},1ZBAD1,UPS,GROUND,{stamp},MAIN,SKU-1,abc\r\n"
    )

    run = hub.run("ship_confirm")

    assert run.outcome == Outcome.PARTIAL
    assert run.counts["shipments"] == 1
    assert "shp_manual.csv row 4" in run.log and "'abc'" in run.log
    assert "NOPE-999" in run.log
    assert "1 bad row → merchant-a/errors/" in run.log
    alert = Alert.objects.get(kind="shipment_rows", resolved_at__isnull=True)
    assert "row 4" in alert.message and "NOPE-999" in alert.message
    assert files(home, "errors") == ["shp_manual.csv"] and files(home, "out") == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (S.SHIPPED, S.AT_WMS)


def test_a_changed_host_key_stops_delivery_before_anything_is_sent(world, tmp_path, sftp):
    hub = sftp_hub(world, tmp_path, sftp)
    hub.run("download")
    sftp.rotate_host_key()
    sftp.operations.clear()

    run = hub.run("delivery")

    assert run.outcome == Outcome.FAILED
    assert "host key" in run.error
    hub.wms.refresh_from_db()
    assert hub.wms.health == Health.NEEDS_REAUTH
    assert Alert.objects.filter(kind="needs_reauth", resolved_at__isnull=True).exists()
    assert set(sftp.actions()) == {"connect"}
    assert files(sftp.root / USER, "in") == []
    assert statuses(hub) == {S.SENDING: 6}


def test_an_upload_cut_off_midway_delivers_nothing_and_the_retry_delivers_once(
    world, tmp_path, sftp
):
    hub = sftp_hub(world, tmp_path, sftp)
    home = sftp.root / USER
    hub.run("download")
    sftp.disconnect_after(500)

    cut = hub.run("delivery")

    assert cut.outcome == Outcome.FAILED
    assert "cut" in sftp.actions()
    assert [n for n in files(home, "in") if n.endswith(".csv")] == []
    assert statuses(hub) == {S.SENDING: 6}

    retry_time_passed()
    retried = hub.run("delivery")

    assert retried.counts["delivered"] == 6
    assert len(files(home, "in")) == 1
    warehouse = simulator(home)
    warehouse.step()
    assert Counter(warehouse.received) == {o.key: 1 for o in hub.cart.orders.all()}


def test_a_resent_batch_is_recognized_in_the_folder_and_in_the_archive(world, tmp_path, sftp):
    hub = sftp_hub(world, tmp_path, sftp)
    home = sftp.root / USER
    hub.run("download")
    adapter = wms_adapter(hub.wms)
    merchant = merchant_ref(hub.cart.merchant)
    batch = [wms_order(o) for o in hub.cart.orders.order_by("id")]

    first = adapter.deliver_orders(merchant, batch)
    while_waiting = adapter.deliver_orders(merchant, batch)
    simulator(home).step()
    after_pickup = adapter.deliver_orders(merchant, batch)

    assert all(r.ok for r in first + while_waiting + after_pickup)
    assert {r.reference for r in first} == {r.reference for r in after_pickup}
    assert len({r.reference for r in first}) == 1
    assert files(home, "in") == []
    assert [n for n in files(home, "archive")] == [first[0].reference]
    assert "already sent" in adapter.notes[-1]


def test_connection_test_checks_the_server_and_fixed_folders(world, tmp_path, sftp):
    hub = sftp_hub(world, tmp_path, sftp)
    assert "Per-merchant folders" in wms_adapter(hub.wms).test_connection()

    hub.wms.settings = {**hub.wms.settings, "errors_folder": "nowhere"}
    with pytest.raises(AdapterError) as caught:
        wms_adapter(hub.wms).test_connection()
    assert caught.value.permanent and "nowhere" in caught.value.message


# --- FTP ---------------------------------------------------------------------------------------


@pytest.fixture
def ftp() -> Iterator[FtpEmulator]:
    emulator = FtpEmulator(tls=True)
    home = emulator.add_user(USER, PASSWORD)
    for folder in FOLDERS:
        (home / folder).mkdir(parents=True)
    emulator.start()
    yield emulator
    emulator.stop()


def test_orders_go_out_over_ftps_and_shipments_come_back(world, tmp_path, ftp):
    hub = csv_hub(
        world,
        tmp_path,
        {"password": PASSWORD},
        transport="ftp",
        host=ftp.host,
        port=ftp.port,
        username=USER,
        tls="explicit",
        ca_certificate=ftp.certificate_pem,
        timeout=10,
    )
    home = ftp.home(USER)

    run_orders_through(hub, simulator(home))

    assert [u.path.rsplit("/", 1)[-1][:7] for u in ftp.uploads] == ["orders_"]
    assert files(home, "out") == [] and files(home, "errors") == []


# --- E-mail ------------------------------------------------------------------------------------


def test_orders_go_out_by_smtp_and_shipment_files_are_read_from_imap(world, tmp_path):
    hub_inbox = ImapEmulator("hub@hub.example", "imap-Hub-pass-1")
    warehouse_inbox = ImapEmulator("wh@wh.example", "imap-Wh-pass-2")
    to_warehouse = SmtpSink(username="hub", password="smtp-Hub-3", deliver_to=warehouse_inbox)
    to_hub = SmtpSink(username="wh", password="smtp-Wh-4", deliver_to=hub_inbox)
    with hub_inbox, warehouse_inbox, to_warehouse, to_hub:
        hub = csv_hub(
            world,
            tmp_path,
            {"smtp_password": "smtp-Hub-3", "imap_password": "imap-Hub-pass-1"},
            transport="email",
            smtp_host=to_warehouse.host,
            smtp_port=to_warehouse.port,
            smtp_security="none",
            smtp_username="hub",
            from_address="hub@hub.example",
            to_addresses="orders@wh.example",
            imap_host=hub_inbox.host,
            imap_port=hub_inbox.port,
            imap_security="none",
            imap_username="hub@hub.example",
            allowed_senders="@wh.example",
            archive_folder="Archive",
            errors_folder="Errors",
            timeout=10,
        )
        mail = EmailTransport(
            credentials={"smtp_password": "smtp-Wh-4", "imap_password": "imap-Wh-pass-2"},
            settings={
                "smtp_host": to_hub.host,
                "smtp_port": to_hub.port,
                "smtp_security": "none",
                "smtp_username": "wh",
                "from_address": "wms@wh.example",
                "to_addresses": "hub@hub.example",
                "imap_host": warehouse_inbox.host,
                "imap_port": warehouse_inbox.port,
                "imap_security": "none",
                "imap_username": "wh@wh.example",
                "timeout": 10,
            },
            connection_key="warehouse-mail",
        )
        warehouse = WarehouseSimulator(
            mail,
            order_layout=ORDER_LAYOUT,
            shipment_layout=SHIPMENT_LAYOUT,
            inventory_layout=INVENTORY_LAYOUT,
            archive_folder="Archive",
        )
        try:
            run_orders_through(hub, warehouse)
        finally:
            warehouse.stop()

        [order_mail] = to_warehouse.received
        assert order_mail.message["Subject"].startswith(f"{MERCHANT}/in: orders_{MERCHANT}_")
        assert hub_inbox.messages("INBOX") == []
        assert len(hub_inbox.messages("Archive")) == 2


def test_a_batch_whose_worker_died_while_e_mailing_goes_to_a_person_not_out_again(world, tmp_path):
    """E-mail cannot be asked whether a file arrived: such a batch is never sent twice."""
    to_warehouse = SmtpSink(username="hub", password="smtp-Hub-3")
    with to_warehouse:
        hub = csv_hub(
            world,
            tmp_path,
            {"smtp_password": "smtp-Hub-3"},
            transport="email",
            smtp_host=to_warehouse.host,
            smtp_port=to_warehouse.port,
            smtp_security="none",
            smtp_username="hub",
            from_address="hub@hub.example",
            to_addresses="orders@wh.example",
            timeout=10,
        )
        hub.run("download")
        # A worker claimed a batch, began sending it and died: its claim has run out.
        schedule = hub.schedule("delivery")
        batch = outbox.batch_claim(
            hub.cart.merchant,
            wms_adapter(hub.wms),
            RunContext(schedule=schedule, now=timezone.now()),
        )
        assert batch is not None
        DeliveryBatch.objects.filter(pk=batch.pk).update(
            attempts=1, claimed_until=timezone.now() - timedelta(seconds=1)
        )

        run = hub.run("delivery")

        assert to_warehouse.received == []
        assert statuses(hub) == {S.ERROR: 6}
        order = hub.cart.orders.first()
        assert f"batch {batch.pk}" in order.last_error and "check" in order.last_error
        assert DeliveryBatch.objects.get(pk=batch.pk).state == "failed"
        assert Alert.objects.filter(kind="order_errors", resolved_at__isnull=True).exists()
        assert run.outcome == Outcome.PARTIAL


# --- A local folder: files that cannot be read or are taken by someone else -------------------


@pytest.fixture
def folder_hub(world, tmp_path: Path) -> Hub:
    root = tmp_path / "exchange"
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True)
    return csv_hub(world, tmp_path, {}, transport="local", root=str(root))


def test_an_unreadable_stock_file_goes_to_errors_and_is_reported(folder_hub, tmp_path):
    root = tmp_path / "exchange"
    (root / MERCHANT / "out" / "inv_1.csv").write_bytes(b"Item;Count\r\nSKU-1;4\r\n")
    (root / MERCHANT / "out" / "inv_2.csv").write_bytes(b"SKU,Quantity,Warehouse\r\nSKU-2,7,\r\n")

    run = folder_hub.run("inventory")

    assert run.outcome == Outcome.PARTIAL
    assert "inv_1.csv: The inventory file has no column 'SKU'" in run.log
    assert "merchant-a/out/inv_2.csv: 1 stock level → merchant-a/archive/" in run.log
    assert files(root, "errors") == ["inv_1.csv"] and files(root, "archive") == ["inv_2.csv"]
    assert dict(InventoryLevel.objects.values_list("sku", "quantity")) == {"SKU-2": 7}
    assert Alert.objects.filter(kind="inventory_rows", resolved_at__isnull=True).exists()


def test_an_order_whose_sku_a_spreadsheet_would_run_waits_with_the_reason_and_the_rest_go(
    folder_hub, tmp_path
):
    folder_hub.run("download")
    hostile = folder_hub.cart.orders.order_by("id").first()
    hostile.lines.update(sku='=HYPERLINK("http://evil.example","x")', wms_sku="")

    run = folder_hub.run("delivery")

    hostile.refresh_from_db()
    assert run.outcome == Outcome.PARTIAL
    assert hostile.status == S.NEW and "runs as a formula" in hostile.last_error
    assert statuses(folder_hub) == {S.AT_WMS: 5, S.NEW: 1}
    assert Alert.objects.filter(kind="delivery_retrying", resolved_at__isnull=True).exists()
    [sent] = files(tmp_path / "exchange", "in")
    text = (tmp_path / "exchange" / MERCHANT / "in" / sent).read_text()
    assert "HYPERLINK" not in text and hostile.order_number not in text
