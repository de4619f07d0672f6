"""The CSV file cart: order files read once from a folder, tracking and stock written back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cartrover.adapters import BadPayload, CartOrder, CartShipment, ShipmentItem
from carts.adapters.csv_file.adapter import (
    CART_ORDER_LAYOUT,
    CART_SHIPMENT_LAYOUT,
    orders_from_upload,
)
from carts.models import CartConnection
from carts.services import cart_adapter
from orders.models import Order, OrderStatus
from sync.models import Outcome
from tests import factories
from tests.hub import Hub
from wms.adapters.csv_file.files import INVENTORY_LAYOUT
from wms.files.layout import InventoryLayout, ShipmentLayout, read_inventory, read_shipments
from wms.models import WmsConfig, WmsShipMethod

pytestmark = pytest.mark.django_db

S = OrderStatus
HEADERS = [c["header"] for c in CART_ORDER_LAYOUT["columns"]]
FOLDERS = ("orders", "archive", "errors", "shipments", "inventory")


def order_file(*rows: dict[str, str]) -> bytes:
    """Return an order file in the default layout: a row per line, blank cells left out."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADERS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"Quantity": "1", "ShipMethod": "GROUND", **row})
    return buffer.getvalue().encode()


GOOD_AND_BAD = order_file(
    {"OrderNumber": "W-1", "ShipToName": "Ana Ruiz", "SKU": "SKU-1", "Quantity": "2"},
    {"OrderNumber": "W-1", "ShipToName": "Ana Ruiz", "SKU": "SKU-2"},
    {"OrderNumber": "W-2", "ShipToName": "Zoë Chen", "SKU": "SKU-3"},
    {"OrderNumber": "W-3", "ShipToName": "Kwame Mensah", "SKU": "SKU-1", "Quantity": "x"},
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    files = tmp_path / "files"
    for folder in FOLDERS:
        (files / folder).mkdir(parents=True)
    return files


@pytest.fixture
def hub(db, tmp_path: Path, root: Path) -> Hub:
    """An account whose merchant sends order files; the sandbox warehouse ships them."""
    account = factories.AccountFactory(name="North")
    merchant = factories.MerchantFactory(account=account)
    wms = WmsConfig.objects.create(
        account=account,
        kind="dummy",
        credentials={"api_key": "wms-key"},
        settings={"name": f"wh{account.pk}", "ledger_dir": str(tmp_path)},
    )
    WmsShipMethod.objects.create(account=account, code="GROUND", carrier="UPS")
    cart = CartConnection.objects.create(
        account=account,
        merchant=merchant,
        kind="csv_file",
        order_source="Wholesale files",
        credentials={},
        setup={"transport": "local", "root": str(root)},
    )
    return Hub(world=None, wms=wms, cart=cart, ledger_dir=tmp_path)


def names(root: Path, folder: str) -> list[str]:
    return sorted(p.name for p in (root / folder).iterdir())


def test_orders_are_read_from_a_folder_and_bad_ones_kept_as_errors(hub, root):
    (root / "orders" / "wholesale_1.csv").write_bytes(GOOD_AND_BAD)

    run = hub.run("download")

    assert run.outcome == Outcome.PARTIAL
    assert run.counts["new"] == 2
    orders = {o.external_id: o for o in Order.objects.filter(cart=hub.cart)}
    assert {k: o.status for k, o in orders.items()} == {"W-1": S.NEW, "W-2": S.NEW, "W-3": S.ERROR}
    assert sorted((li.sku, li.quantity) for li in orders["W-1"].lines.all()) == [
        ("SKU-1", 2),
        ("SKU-2", 1),
    ]
    assert "orders/wholesale_1.csv: 2 orders, 1 bad row → errors/" in run.log
    assert "row 5: Quantity 'x' is not a number" in orders["W-3"].last_error
    assert names(root, "orders") == [] and names(root, "errors") == ["wholesale_1.csv"]


def test_a_file_sent_again_adds_no_orders(hub, root):
    good = order_file(
        {"OrderNumber": "W-1", "SKU": "SKU-1"}, {"OrderNumber": "W-2", "SKU": "SKU-2"}
    )
    (root / "orders" / "a.csv").write_bytes(good)
    hub.run("download")
    (root / "orders" / "a.csv").write_bytes(good)

    again = hub.run("download")

    assert again.outcome == Outcome.OK
    assert again.counts.get("new", 0) == 0 and again.counts["unchanged"] == 2
    assert Order.objects.filter(cart=hub.cart).count() == 2
    assert names(root, "archive") == ["a.csv", "a_1.csv"]


def test_tracking_and_stock_are_written_back_as_files(hub, root):
    (root / "orders" / "a.csv").write_bytes(
        order_file({"OrderNumber": "W-1", "SKU": "SKU-1"}, {"OrderNumber": "W-2", "SKU": "SKU-2"})
    )
    hub.run("download")
    assert hub.run("delivery").counts["delivered"] == 2
    assert hub.run("ship_confirm").counts["shipments"] == 2

    upload = hub.run("shipment_upload")

    assert upload.counts["uploaded"] == 2
    assert set(Order.objects.filter(cart=hub.cart).values_list("status", flat=True)) == {
        S.CONFIRMED
    }
    layout = ShipmentLayout.from_dict(CART_SHIPMENT_LAYOUT)
    packages = [
        p
        for name in names(root, "shipments")
        for p in read_shipments(layout, (root / "shipments" / name).read_bytes()).shipments
    ]
    assert sorted(p.order_key for p in packages) == ["W-1", "W-2"]
    assert all(p.tracking_number and p.items for p in packages)

    hub.run("inventory")
    hub.cart.inventory_upload_interval = 60
    hub.cart.save()
    stock = hub.run("inventory_upload")

    assert stock.counts["sent"] == 3
    [stock_file] = names(root, "inventory")
    levels = read_inventory(
        InventoryLayout.from_dict(INVENTORY_LAYOUT), (root / "inventory" / stock_file).read_bytes()
    ).levels
    assert {lv.sku: lv.quantity for lv in levels} == {"SKU-1": 99, "SKU-2": 99, "SKU-3": 100}


def test_a_retried_tracking_upload_writes_one_file(hub, root):
    adapter = cart_adapter(hub.cart)
    package = CartShipment(
        order_external_id="W-1",
        order_number="W-1",
        tracking_number="1Z999",
        items=[ShipmentItem(sku="SKU-1", quantity=1)],
    )

    first = adapter.upload_shipment(package)
    second = adapter.upload_shipment(package)

    assert first == second
    assert len(names(root, "shipments")) == 1


def test_orders_from_upload_reads_a_file_a_person_uploads():
    found = orders_from_upload(CART_ORDER_LAYOUT, GOOD_AND_BAD)

    assert [o.external_id for o in found if isinstance(o, CartOrder)] == ["W-1", "W-2"]
    [bad] = [o for o in found if isinstance(o, BadPayload)]
    assert bad.external_id == "W-3"
    [unreadable] = orders_from_upload(CART_ORDER_LAYOUT, b"OrderNumber;Nothing else\r\n1;2\r\n")
    assert isinstance(unreadable, BadPayload) and "no column" in unreadable.message


def test_an_order_file_uploaded_by_hand_is_stored_once_with_its_bad_rows_reported(client, hub):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from merchants.models import Membership, Role

    staff = factories.UserFactory()
    Membership.objects.create(user=staff, account=hub.cart.account, role=Role.STAFF)
    client.force_login(staff)
    url = reverse("cart_upload", args=[hub.cart.pk])
    for _ in range(2):
        response = client.post(
            url,
            {"orders_file": SimpleUploadedFile("w.csv", GOOD_AND_BAD, "text/csv")},
            follow=True,
        )
    assert sorted(hub.cart.orders.values_list("order_number", "status")) == [
        ("W-1", S.NEW),
        ("W-2", S.NEW),
        ("W-3", S.ERROR),  # the bad row, kept with its reason
    ]
    assert b"w.csv:" in response.content
    from sync.models import JobRun

    runs = JobRun.objects.filter(cart=hub.cart, trigger="manual")
    assert runs.count() == 2 and "Orders uploaded by hand from w.csv" in runs.first().log
    assert runs.order_by("id").first().counts["new"] == 2
