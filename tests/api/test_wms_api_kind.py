"""The pull-mode WMS kind: the hub sends nothing and fetches nothing; the WMS uses the API."""

from __future__ import annotations

from orders.models import Order, OrderStatus
from sync.models import Outcome
from tests.hub import Hub, make_cart
from wms.adapters import WMS_KINDS
from wms.models import WmsConfig


def test_api_wms_kind_is_registered_in_pull_mode():
    adapter_class = WMS_KINDS.adapter_class("api")
    assert adapter_class.mode == "pull"
    assert adapter_class.label == "API (the WMS pulls orders)"


def test_flows_leave_delivery_shipments_and_stock_to_the_wms(world, tmp_path):
    wms = WmsConfig.objects.create(account=world.account, kind="api", credentials={})
    cart = make_cart(world.merchant_a, tmp_path, order_count=3)
    hub = Hub(world=world, wms=wms, cart=cart, ledger_dir=tmp_path)
    hub.run("download")
    runs = [hub.run(flow) for flow in ("delivery", "ship_confirm", "inventory")]
    assert [r.outcome for r in runs] == [Outcome.OK] * 3
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.NEW}
