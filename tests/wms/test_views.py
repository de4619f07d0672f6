"""The WMS setup screen: choose the kind, save settings, test, ship methods, warehouses."""

from __future__ import annotations

import pytest
from django.urls import reverse

from wms.models import Warehouse, WmsConfig, WmsShipMethod

pytestmark = pytest.mark.django_db


def test_staff_set_up_the_sandbox_warehouse_and_load_its_ship_methods(client, world, tmp_path):
    client.force_login(world.admin)
    page = client.get(reverse("wms_setup"), {"kind": "dummy"}).content.decode()
    assert "<legend>API information</legend>" in page
    response = client.post(
        reverse("wms_setup") + "?kind=dummy",
        {
            "cred_api_key": "wms-secret",
            "set_name": "main",
            "set_ship_after_seconds": 0,
            "set_reject_skus": "",
            "set_stock_per_sku": 100,
            "set_warehouses": "MAIN",
            "set_skus": "SKU-1",
            "set_failure": "none",
            "set_ledger_dir": str(tmp_path),
        },
    )
    assert response.status_code == 302
    config = WmsConfig.objects.get(account=world.account)
    assert config.kind == "dummy" and config.credentials["api_key"] == "wms-secret"
    assert (
        b"Connected to sandbox warehouse" in client.post(reverse("wms_test"), follow=True).content
    )
    client.post(reverse("ship_methods_add"), {"load": "1"})
    assert set(
        WmsShipMethod.objects.filter(account=world.account).values_list("code", flat=True)
    ) == {"GROUND", "EXPRESS", "PRIORITY"}
    client.post(reverse("warehouses_add"), {"warehouse-code": "EAST", "warehouse-name": "East"})
    assert Warehouse.objects.filter(account=world.account, code="EAST").exists()
    assert b"wms-secret" not in client.get(reverse("wms_setup")).content


def test_merchant_users_see_the_wms_read_only(client, hub):
    client.force_login(hub.world.merchant_user_a)
    page = client.get(reverse("wms_setup")).content.decode()
    assert "read-only" in page and '<form method="post"' not in page.split("<main")[1]
    for name in ("wms_test", "ship_methods_add", "warehouses_add"):
        assert client.post(reverse(name), {"method-code": "X"}).status_code == 404
    assert not WmsShipMethod.objects.filter(code="X").exists()


def test_each_account_sees_only_its_own_wms(client, hub, other_world):
    client.force_login(other_world.staff)
    page = client.get(reverse("wms_setup")).content.decode()
    assert "No WMS yet" in page
    assert "GROUND" not in page
