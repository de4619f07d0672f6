"""The layout builder: a sample file's columns detected and mapped, previewed, saved."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from wms.models import WmsConfig

pytestmark = pytest.mark.django_db

SAMPLE = b"Order No,Ship Name,City,SKU,Qty\r\nA-1,Ana Ruiz,Dayton,TOTE-OL,1\r\n"


@pytest.fixture
def csv_hub(hub, tmp_path):
    hub.run("download")
    WmsConfig.objects.filter(pk=hub.wms.pk).update(
        kind="csv_file", settings={"transport": "local", "root": str(tmp_path)}
    )
    return hub


def mapping(columns, **extra):
    data = {"count": len(columns), "header": "on", "delimiter": ",", "mode": "vertical", **extra}
    for n, (header, source) in enumerate(columns):
        data[f"header-{n}"], data[f"source-{n}"] = header, source
    return data


def test_a_sample_file_is_detected_and_its_known_columns_mapped(client, csv_hub):
    client.force_login(csv_hub.world.staff)
    page = client.post(
        reverse("layout_builder", args=["order"]),
        {"step": "detect", "sample": SimpleUploadedFile("orders.csv", SAMPLE, "text/csv")},
    ).content.decode()
    assert "Found 5 column(s)" in page
    assert 'value="Order No"' in page
    assert '<option value="order.order_number" selected>' in page
    assert '<option value="line.sku" selected>' in page


def test_preview_writes_real_orders_and_save_keeps_the_layout(client, csv_hub):
    client.force_login(csv_hub.world.staff)
    columns = [
        ("Order No", "order.order_number"),
        ("City", "ship_to.city"),
        ("SKU", "line.sku"),
        ("Qty", "line.quantity"),
    ]
    url = reverse("layout_builder", args=["order"])
    page = client.post(url, mapping(columns, step="preview")).content.decode()
    order = csv_hub.cart.orders.order_by("-created_at").first()
    assert "Order No,City,SKU,Qty" in page and order.order_number in page
    client.post(url, mapping(columns, step="save"))
    saved = json.loads(WmsConfig.objects.get(pk=csv_hub.wms.pk).settings["order_layout"])
    assert [c["header"] for c in saved["columns"]] == ["Order No", "City", "SKU", "Qty"]


def test_a_layout_missing_a_required_column_is_explained_and_not_saved(client, csv_hub):
    client.force_login(csv_hub.world.staff)
    url = reverse("layout_builder", args=["shipment"])
    page = client.post(url, mapping([("Order", "order_number")], step="save")).content.decode()
    assert "tracking" in page.lower()
    assert "shipment_layout" not in WmsConfig.objects.get(pk=csv_hub.wms.pk).settings


def test_merchant_users_and_other_accounts_cannot_reach_it(client, csv_hub, other_world):
    for user in (csv_hub.world.merchant_user_a, other_world.admin):
        client.force_login(user)
        assert client.get(reverse("layout_builder", args=["order"])).status_code == 404
