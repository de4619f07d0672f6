"""The inventory formula on worked examples."""

from __future__ import annotations

import pytest

from orders.models import InventoryLevel, Order, OrderLine, ProductAlias
from sync.flows.inventory import inventory_plan
from wms.models import Warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture
def stock(hub):
    merchant = hub.cart.merchant
    for sku, wh, qty in [
        ("MUG", "EAST", 10),
        ("MUG", "WEST", 5),
        ("TEA", "EAST", 3),
        ("CAP", "WEST", 0),
    ]:
        InventoryLevel.objects.create(
            account=merchant.account, merchant=merchant, sku=sku, warehouse=wh, quantity=qty
        )
    return hub


def plan(cart):
    return {row.master_sku: row for row in inventory_plan(cart)}


def test_all_warehouses_are_summed(stock):
    rows = plan(stock.cart)
    assert rows["MUG"].quantity == 15
    assert rows["TEA"].quantity == 3
    assert "15 on hand in all warehouses" in rows["MUG"].reason


def test_a_chosen_warehouse_sends_only_its_stock(stock):
    east = Warehouse.objects.create(account=stock.world.account, code="EAST")
    stock.cart.inventory_warehouse = east
    assert plan(stock.cart)["MUG"].quantity == 10
    assert plan(stock.cart).keys() == {"MUG", "TEA"}


def test_orders_not_yet_at_the_wms_are_subtracted(stock):
    cart = stock.cart
    for status, qty in [("new", 4), ("held", 2), ("at_wms", 7)]:
        order = Order.objects.create(
            account=cart.account,
            merchant=cart.merchant,
            cart=cart,
            external_id=f"x-{status}",
            order_number=status,
            order_source="s",
            status=status,
        )
        OrderLine.objects.create(
            account=cart.account, order=order, sku="MUG", wms_sku="MUG", quantity=qty
        )
    row = plan(cart)["MUG"]
    assert (row.in_flight, row.quantity) == (6, 9)  # the at_wms order is already out of stock
    assert "minus 6 in orders not yet at the WMS" in row.reason


def test_below_the_minimum_level_sends_zero(stock):
    stock.cart.inventory_min_level = 5
    rows = plan(stock.cart)
    assert rows["TEA"].quantity == 0
    assert "below the minimum of 5" in rows["TEA"].reason
    assert rows["MUG"].quantity == 15


def test_never_negative(stock):
    cart = stock.cart
    order = Order.objects.create(
        account=cart.account,
        merchant=cart.merchant,
        cart=cart,
        external_id="big",
        order_number="big",
        order_source="s",
    )
    OrderLine.objects.create(
        account=cart.account, order=order, sku="TEA", wms_sku="TEA", quantity=50
    )
    assert plan(cart)["TEA"].quantity == 0


def test_alias_type_sends_the_alias_and_master_sku_without_one(stock):
    ProductAlias.objects.create(
        account=stock.world.account,
        merchant=stock.cart.merchant,
        master_sku="MUG",
        alias_type="shopify",
        alias="MUG-BLUE-12OZ",
    )
    stock.cart.inventory_alias_type = "shopify"
    rows = plan(stock.cart)
    assert rows["MUG"].sku == "MUG-BLUE-12OZ"
    assert rows["TEA"].sku == "TEA"


def test_only_changes_since_the_last_push_are_marked(stock):
    stock.cart.inventory_upload_interval = 60
    stock.cart.setup = {**stock.cart.setup, "skus": "MUG,TEA,CAP"}
    stock.cart.save()
    assert stock.run("inventory_upload").counts["sent"] == 3
    assert not [r for r in inventory_plan(stock.cart) if r.changed]
    InventoryLevel.objects.filter(sku="TEA").update(quantity=1)
    assert [r.master_sku for r in inventory_plan(stock.cart) if r.changed] == ["TEA"]


def test_a_sku_the_cart_refuses_is_reported_and_tried_again_next_time(stock):
    stock.cart.inventory_upload_interval = 60
    stock.cart.setup = {**stock.cart.setup, "skus": "MUG,TEA"}
    stock.cart.save()
    run = stock.run("inventory_upload")
    assert run.outcome == "partial"
    assert "Stock of CAP not set: No such SKU in the store." in run.log
    assert [r.master_sku for r in inventory_plan(stock.cart) if r.changed] == ["CAP"]
