"""Cart screens: a form built from the kind's fields, test connection, run now."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from carts.models import CartConnection
from sync.models import Schedule

pytestmark = pytest.mark.django_db


def new_cart_data(**overrides):
    data = {
        "kind": "dummy",
        "order_source": "Web shop",
        "description": "",
        "cred_api_key": "s3cret-key-value",
        "setup_seed": "formshop",
        "setup_order_count": 3,
        "setup_page_size": 5,
        "setup_start": "2026-01-01T00:00:00+00:00",
        "setup_order_spacing_seconds": 0,
        "setup_ship_codes": "GROUND",
        "setup_skus": "SKU-1",
        "setup_failure": "none",
        "setup_ledger_dir": "",
        "inventory_min_level": 0,
        "inventory_alias_type": "",
        "download_interval": 5,
        "shipment_upload_interval": 15,
        "inventory_upload_interval": 0,
    }
    data.update(overrides)
    return data


def test_choose_a_kind_then_fill_the_form_built_from_its_fields(client, hub):
    client.force_login(hub.world.staff)
    url = reverse("cart_new", args=[hub.world.merchant_b.pk])
    assert b"Sandbox store" in client.get(url).content
    page = client.get(url, {"kind": "dummy"}).content.decode()
    for section in ("Client", "API information", "Cart setup", "Order load options", "Services"):
        assert f"<legend>{section}</legend>" in page
    response = client.post(url, new_cart_data(setup_ledger_dir=str(hub.ledger_dir)))
    cart = CartConnection.objects.get(order_source="Web shop")
    assert response["Location"] == reverse("cart_detail", args=[cart.pk])
    assert cart.merchant == hub.world.merchant_b
    assert cart.credentials["api_key"] == "s3cret-key-value"
    assert cart.setup["order_count"] == 3
    assert Schedule.objects.filter(cart=cart, flow="download", enabled=True).exists()


def test_form_errors_stand_next_to_the_field_and_keep_what_was_typed(client, hub):
    client.force_login(hub.world.staff)
    url = reverse("cart_new", args=[hub.world.merchant_b.pk])
    page = client.post(url, new_cart_data(order_source="", description="typed by hand"))
    body = page.content.decode()
    assert "This field is required." in body
    assert "typed by hand" in body
    assert "s3cret-key-value" not in body  # secrets are never echoed back
    assert not CartConnection.objects.filter(description="typed by hand").exists()


def test_editing_with_a_blank_secret_keeps_the_stored_one(client, hub):
    client.force_login(hub.world.staff)
    url = reverse("cart_edit", args=[hub.cart.pk])
    page = client.get(url).content.decode()
    assert "sandbox-key" not in page
    data = new_cart_data(
        order_source="Renamed",
        cred_api_key="",
        setup_ledger_dir=str(hub.ledger_dir),
        setup_seed=hub.cart.setup["seed"],
    )
    assert client.post(url, data).status_code == 302
    hub.cart.refresh_from_db()
    assert hub.cart.order_source == "Renamed"
    assert hub.cart.credentials["api_key"] == "sandbox-key"


def test_test_connection_says_what_to_fix(client, hub):
    hub.cart.setup = {**hub.cart.setup, "failure": "auth"}
    hub.cart.save()
    client.force_login(hub.world.staff)
    response = client.post(reverse("cart_test", args=[hub.cart.pk]), follow=True)
    assert b"refused the API key: enter the key again" in response.content


def test_run_now_makes_the_flow_due_and_reports_its_state(
    client, hub, django_capture_on_commit_callbacks
):
    schedule = Schedule.objects.get(cart=hub.cart, flow="download")
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() + timezone.timedelta(hours=1)
    )
    client.force_login(hub.world.merchant_user_a)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("schedule_run", args=[schedule.pk]), HTTP_ACCEPT="application/json"
        )
    assert response.json()["state"] == "queued"
    status = client.get(reverse("schedule_status", args=[schedule.pk])).json()
    assert status["state"] == "queued"


def test_cart_screens_of_another_tenant_are_404(client, hub, other_world):
    schedule = Schedule.objects.get(cart=hub.cart, flow="download")
    for user in (other_world.staff, hub.world.merchant_user_b):
        client.force_login(user)
        for name, args in [
            ("cart_detail", [hub.cart.pk]),
            ("cart_edit", [hub.cart.pk]),
            ("schedule_status", [schedule.pk]),
        ]:
            assert client.get(reverse(name, args=args)).status_code == 404, name
        for name, args in [("cart_test", [hub.cart.pk]), ("schedule_run", [schedule.pk])]:
            assert client.post(reverse(name, args=args)).status_code == 404, name
        assert (
            client.get(
                reverse("cart_new", args=[hub.world.merchant_a.pk]), {"kind": "dummy"}
            ).status_code
            == 404
        )
