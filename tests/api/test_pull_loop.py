"""A pull-mode WMS, as a third party would write it: plain `requests` against a live hub."""

from __future__ import annotations

import pytest
import requests

from orders.models import Order, OrderStatus
from tests.api.conftest import key_for
from tests.hub import Hub, make_cart
from wms.models import WmsConfig, WmsShipMethod


@pytest.fixture
def pull_hub(world, tmp_path) -> Hub:
    """The first account with a pull-mode WMS and a six-order sandbox store."""
    wms = WmsConfig.objects.create(account=world.account, kind="api", credentials={})
    for code, carrier in (("GROUND", "UPS"), ("EXPRESS", "FedEx")):
        WmsShipMethod.objects.create(account=world.account, code=code, carrier=carrier)
    cart = make_cart(world.merchant_a, tmp_path, order_count=6, page_size=4)
    return Hub(world=world, wms=wms, cart=cart, ledger_dir=tmp_path)


def pull_all(api: str, session: requests.Session, **params) -> list[dict]:
    """Follow the cursor pages of the order list."""
    orders, url = [], f"{api}orders/"
    while url:
        page = session.get(url, params=params, timeout=10)
        page.raise_for_status()
        body = page.json()
        orders += body["results"]
        url, params = body["next"], {}
    return orders


@pytest.mark.django_db(transaction=True)
def test_wms_pulls_acknowledges_ships_and_reports_stock(pull_hub: Hub, live_server):
    world = pull_hub.world
    pull_hub.run("download")
    delivery = pull_hub.run("delivery")
    assert "pulls orders itself" in delivery.log
    assert Order.objects.filter(status=OrderStatus.NEW).count() == 6

    key = key_for("warehouse", account=world.account, name="WMS")
    api = f"{live_server.url}/api/v1/"
    wms = requests.Session()
    wms.auth = key.auth

    # 1. Pull new orders, a page at a time.
    new = pull_all(api, wms, status="new", limit=4)
    assert len(new) == 6
    assert all(o["ship_method"] is None or o["ship_method"]["code"] for o in new)
    assert {o["key"] for o in new} == {f"H{o['id']}" for o in new}

    # 2. Acknowledge them with the WMS's references.
    ack = wms.post(
        f"{api}orders/acknowledge/",
        json={"orders": [{"id": o["id"], "reference": f"WMS-{o['id']}"} for o in new]},
        timeout=10,
    )
    assert ack.status_code == 200
    assert {r["result"] for r in ack.json()["results"]} == {"done"}
    assert pull_all(api, wms, status="new") == []

    # 3. Ship: the first multi-line order in two packages, the rest whole.
    multi = next(o for o in new if len(o["lines"]) > 1)
    first_line, *other_lines = multi["lines"]
    partial = wms.post(
        f"{api}shipments/",
        json={
            "order_id": multi["key"],
            "tracking_number": "1ZPART1",
            "carrier": "UPS",
            "lines": [{"sku": first_line["wms_sku"], "quantity": first_line["quantity"]}],
        },
        timeout=10,
    )
    assert partial.status_code == 201, partial.text
    rest = [
        {
            "order_id": str(multi["id"]),
            "tracking_number": "1ZPART2",
            "carrier": "UPS",
            "lines": [{"sku": li["wms_sku"], "quantity": li["quantity"]} for li in other_lines],
        }
    ] + [
        {
            "order_number": o["order_number"],
            "merchant": o["merchant"],
            "tracking_number": f"1ZFULL{o['id']}",
            "carrier": "FedEx",
            "service": "Ground",
        }
        for o in new
        if o["id"] != multi["id"]
    ]
    shipped = wms.post(f"{api}shipments/", json={"shipments": rest}, timeout=10)
    assert shipped.status_code == 201, shipped.text
    assert {r["status"] for r in shipped.json()["results"]} == {"created"}

    # 4. Stock of every SKU.
    stock = wms.post(
        f"{api}inventory/",
        json={
            "merchant": world.merchant_a.pk,
            "levels": [
                {"sku": "SKU-1", "quantity": 40, "warehouse": "MAIN"},
                {"sku": "SKU-2", "quantity": 7, "warehouse": "MAIN"},
                {"sku": "SKU-3", "quantity": 0, "warehouse": "MAIN"},
            ],
        },
        timeout=10,
    )
    assert stock.json() == {"merchant": world.merchant_a.pk, "stored": 3}

    detail = wms.get(f"{api}orders/{multi['id']}/", timeout=10).json()
    assert {s["tracking_number"] for s in detail["shipments"]} == {"1ZPART1", "1ZPART2"}
    assert [e["kind"] for e in detail["events"]][:2] == ["downloaded", "delivered"]

    # The hub's own flows take it from here: tracking and stock reach the cart.
    pull_hub.run("ship_confirm")
    pull_hub.run("shipment_upload")
    pull_hub.run("inventory_upload")
    uploaded = {r["tracking"] for r in pull_hub.store.records("shipment")}
    assert uploaded == {"1ZPART1", "1ZPART2"} | {f"1ZFULL{o['id']}" for o in new if o is not multi}
    assert {r["sku"]: r["quantity"] for r in pull_hub.store.records("stock")} == {
        "SKU-1": 40,
        "SKU-2": 7,
        "SKU-3": 0,
    }
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CONFIRMED}
