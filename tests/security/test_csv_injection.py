"""CSV files the hub writes cannot carry spreadsheet formulas; file names cannot leave a folder.

Free text from a cart (names, addresses, notes, product names) that starts with `=`, `+`, `-`,
`@`, a tab or a carriage return is written with a leading apostrophe in every file the hub
writes for a CSV warehouse. Codes that other software matches on (order numbers, SKUs, tracking
numbers, carriers, warehouse codes) are written exactly, as the layout engine documents, or,
when a spreadsheet would run them, refused (tests/wms/test_layout.py, tests/wms/test_csv_wms.py).

File names and folders with traversal (`../`, absolute paths, `..\\`, NUL) are refused in
every transport's folder settings, in the names of files a remote server lists, and in the
name of an order file uploaded by hand.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cartrover.adapters import (
    AdapterError,
    Address,
    WmsOrder,
    WmsOrderLine,
)
from carts.adapters.csv_file.adapter import CART_ORDER_LAYOUT
from carts.models import CartConnection
from orders.models import Order
from sandbox.ftp_server import FtpEmulator
from sandbox.sftp_server import SftpEmulator
from wms.adapters.csv_file.files import (
    ORDER_LAYOUT,
    consume_folder,
    order_layout,
)
from wms.files.layout import write_orders
from wms.files.layout.model import FORMULA_TRIGGERS
from wms.files.transports import transport_for

TRIGGERS = sorted(FORMULA_TRIGGERS)
FORMULAS = [f'{t}HYPERLINK("http://evil.example","x")' for t in TRIGGERS] + [
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


def cells(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def neutral(cell: str) -> bool:
    return cell == "" or cell[0] not in FORMULA_TRIGGERS


def hostile_order(text: str) -> WmsOrder:
    return WmsOrder(
        key="H1",
        order_number="1001",
        order_source="Shop",
        placed_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        ship_to=Address(
            name=text,
            company=text,
            address1=text,
            address2=text,
            city=text,
            state=text,
            postal_code=text,
            country=text,
            phone=text,
            email=text,
        ),
        ship_method="GROUND",
        carrier="UPS",
        lines=[WmsOrderLine(sku="SKU-1", quantity=1, name=text, price=Decimal("9.95"))],
        customer_email=text,
        notes=text,
    )


# Header -> the free text that went in, for each file the hub writes.
ORDER_TEXT = {
    "ShipToName",
    "ShipToCompany",
    "ShipToAddress1",
    "ShipToAddress2",
    "ShipToCity",
    "ShipToState",
    "ShipToPostalCode",
    "ShipToCountry",
    "ShipToPhone",
    "Email",
    "Notes",
    "Description",
}


@hypothesis_settings(max_examples=80, deadline=None)
@given(
    text=st.one_of(
        st.sampled_from(FORMULAS),
        st.builds(lambda t, rest: t + rest, st.sampled_from(TRIGGERS), st.text(max_size=20)),
    )
)
def test_an_order_file_for_a_csv_warehouse_never_starts_a_free_text_cell_with_a_formula(text):
    data = write_orders(order_layout(ORDER_LAYOUT, "test"), [hostile_order(text)])

    [row] = cells(data)
    for header in ORDER_TEXT:
        assert neutral(row[header]), (header, row[header])
        assert row[header] == "'" + text.strip() or row[header] == "'" + text


# --- File names and folders -------------------------------------------------------------------

TRAVERSAL = [
    ("../outside", "x.csv"),
    ("in/../../outside", "x.csv"),
    ("/etc", "passwd"),
    ("in", "../../outside.csv"),
    ("in", "/etc/passwd"),
    ("in", ".."),
    ("in", "x\x00.csv"),
    ("in\x00", "x.csv"),
    ("in\\..\\..", "x.csv"),
    ("in", "..\\..\\x.csv"),
]

USER, PASSWORD = "wh", "wh-pass-7d1e"


@pytest.fixture
def loopback(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture(params=["local", "sftp", "ftp"])
def exchange(request, tmp_path: Path, loopback) -> Iterator[tuple[dict, dict, Path, Path]]:
    """Yield (setup, credentials, the transport's root on disk, the tree around that root)."""
    if request.param == "local":
        root = tmp_path / "root" / "exchange"
        for name in ("in", "archive", "errors"):
            (root / name).mkdir(parents=True)
        yield {"transport": "local", "root": str(root)}, {}, root, tmp_path
    elif request.param == "sftp":
        server = SftpEmulator(tmp_path / "root")
        server.add_user(USER, password=PASSWORD)
        with server:
            home = server.file(USER, "", "x").parent
            for name in ("in", "archive", "errors"):
                (home / name).mkdir(parents=True, exist_ok=True)
            setup = {
                "transport": "sftp",
                "host": server.host,
                "port": server.port,
                "username": USER,
                "root": "/",
                "host_key": server.host_key_line(),
            }
            yield setup, {"password": PASSWORD}, home, tmp_path
    else:
        server = FtpEmulator()
        home = server.add_user(USER, PASSWORD)
        for name in ("in", "archive", "errors"):
            (home / name).mkdir(parents=True, exist_ok=True)
        server.start()
        try:
            setup = {
                "transport": "ftp",
                "host": server.host,
                "port": server.port,
                "username": USER,
                "tls": "none",
                "timeout": 10,
            }
            yield setup, {"password": PASSWORD}, home, home.parents[1]
        finally:
            server.stop()


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "name"), TRAVERSAL)
def test_every_transport_refuses_traversal_in_folders_and_names(exchange, folder, name):
    setup, credentials, root, world = exchange
    (root / "in" / "x.csv").write_bytes(b"OrderNumber\n1\n")
    before = files_under(world)
    transport = transport_for(setup, credentials, "csv:traversal")
    try:
        actions = [
            lambda: transport.put(folder, name, b"x"),
            lambda: transport.list(folder) if folder != "in" else transport.get(folder, name),
            lambda: transport.get(folder, name),
            lambda: transport.move(folder, name, "archive"),
        ]
        if folder != "in":
            actions.append(lambda: transport.move("in", "x.csv", folder))
        for action in actions:
            with pytest.raises(AdapterError) as refused:
                action()
            assert refused.value.permanent
    finally:
        transport.close()
    assert files_under(world) == before


# Names a hostile server can really list: POSIX file names hold anything but "/" and NUL.
LISTED = ["..\\..\\evil.csv", "\\etc\\passwd.csv", "..", "evil\r\nDELE x.csv", " -rf .csv"]


@pytest.mark.slow
def test_hostile_names_in_a_remote_listing_stay_inside_the_root(exchange):
    setup, credentials, root, world = exchange
    planted = [name for name in LISTED if name != ".."]
    for name in [*planted, "good.csv"]:
        (root / "in" / name).write_bytes(b"OrderNumber,SKU,Quantity\n1,SKU-1,1\n")
    outside = files_under(world) - {str(p.relative_to(world)) for p in root.rglob("*")}
    transport = transport_for(setup, credentials, "csv:listing")
    notes: list[str] = []
    read: list[str] = []
    try:
        read = list(
            consume_folder(
                transport,
                folder="in",
                patterns=[],
                archive="archive",
                errors="errors",
                read=lambda data, where: ([where], 0),
                what="order",
                notes=notes,
            )
        )
    except AdapterError as exc:
        assert exc.permanent, exc.message  # refused with a reason, not a crash
    finally:
        transport.close()

    inside = files_under(root)
    assert files_under(world) - {str(p.relative_to(world)) for p in root.rglob("*")} == outside
    assert len(inside) == len(planted) + 1, inside
    assert all(Path(p).parts[0] in ("in", "archive", "errors") for p in inside), inside
    assert all(len(Path(p).parts) == 2 for p in inside), inside
    assert all(isinstance(item, str) for item in read)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["../../../etc/cron.d/orders.csv", "/etc/passwd", "..\\..\\orders.csv", "a\x00b.csv"]
)
def test_a_hand_uploaded_order_file_named_with_a_path_is_read_and_never_written(
    name, client, world, tmp_path
):
    root = tmp_path / "cart"
    for folder in ("orders", "archive", "errors", "shipments", "inventory"):
        (root / folder).mkdir(parents=True)
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="csv_file",
        order_source="Files",
        setup={"transport": "local", "root": str(root)},
    )
    headers = [c["header"] for c in CART_ORDER_LAYOUT["columns"]]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=headers)
    writer.writeheader()
    writer.writerow({"OrderNumber": "U-1", "ShipToName": "Ana", "SKU": "SKU-1", "Quantity": "1"})
    upload = SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")
    before = files_under(tmp_path)
    client.force_login(world.staff)

    response = client.post(
        reverse("cart_upload", args=[cart.pk]), {"orders_file": upload}, follow=True
    )

    assert response.status_code == 200
    assert Order.objects.filter(cart=cart, order_number="U-1").exists()
    assert files_under(tmp_path) == before
    assert "/etc/" not in response.content.decode()
