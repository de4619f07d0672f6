"""API keys: secrets shown once and stored hashed, Basic and Bearer, revocation, rotation."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from api.models import ApiKey
from api.services import api_key_revoke, api_key_rotate
from tests.api.conftest import ApiClient, Key, key_for


def test_key_stores_only_the_hash_of_its_secret(warehouse_key: Key):
    stored = ApiKey.objects.get(pk=warehouse_key.key.pk)
    assert stored.key_id.startswith("ak_") and len(stored.key_id) == 19
    assert stored.secret_hash == hashlib.sha256(warehouse_key.secret.encode()).hexdigest()
    assert warehouse_key.secret not in str(stored.__dict__)


def test_bearer_and_basic_both_authenticate(warehouse_key: Key):
    for header in (warehouse_key.bearer, warehouse_key.basic):
        response = Client().get("/api/v1/merchants/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "header",
    ["", "Bearer ak_nosuchkey0000000.secret", "Bearer garbage", "Basic !!!notbase64"],
)
def test_missing_or_wrong_key_is_401_with_challenge(db, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get("/api/v1/orders/", **extra)
    assert response.status_code == 401
    assert "Basic" in response["WWW-Authenticate"]
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] in ("not_authenticated", "authentication_failed")
    assert body["request_id"] == response["X-Request-ID"]


def test_wrong_secret_of_a_real_key_is_401(warehouse_key: Key):
    response = Client().get(
        "/api/v1/orders/", HTTP_AUTHORIZATION=f"Bearer {warehouse_key.key.key_id}.wrong"
    )
    assert response.status_code == 401


def test_revoked_key_is_401(warehouse_key: Key):
    api_key_revoke(warehouse_key.key)
    assert ApiClient(warehouse_key).get("/api/v1/orders/").status_code == 401


def test_rotated_key_replaces_the_old_one(warehouse_key: Key):
    new, secret = api_key_rotate(warehouse_key.key)
    assert ApiClient(warehouse_key).get("/api/v1/orders/").status_code == 401
    assert ApiClient(Key(new, secret)).get("/api/v1/orders/").status_code == 200
    assert new.level == warehouse_key.key.level and new.account_id == warehouse_key.key.account_id


def test_use_is_recorded_at_most_once_a_minute(warehouse_key: Key):
    ApiClient(warehouse_key).get("/api/v1/orders/")
    first = ApiKey.objects.get(pk=warehouse_key.key.pk).last_used_at
    assert first is not None
    ApiClient(warehouse_key).get("/api/v1/orders/")
    assert ApiKey.objects.get(pk=warehouse_key.key.pk).last_used_at == first


def test_cart_key_belongs_to_its_carts_merchant(world, api_cart):
    key = key_for("cart", account=world.account, cart=api_cart)
    assert key.key.merchant_id == world.merchant_a.pk


def test_key_of_another_accounts_merchant_is_refused(world, other_world):
    with pytest.raises(ValueError):
        key_for("merchant", account=world.account, merchant=other_world.merchant_a)


def test_admin_never_shows_secret_or_hash(world, warehouse_key: Key):
    from tests.factories import UserFactory

    operator = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)
    page = client.get(f"/admin/api/apikey/{warehouse_key.key.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert warehouse_key.key.key_id in html
    assert warehouse_key.key.secret_hash not in html
    assert warehouse_key.secret not in html


def test_admin_creates_a_key_through_the_service_and_shows_its_secret_once(world):
    from tests.factories import UserFactory

    operator = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)
    body = {
        "account": world.account.pk,
        "level": "merchant",
        "merchant": world.merchant_a.pk,
        "name": "Client WMS",
    }
    page = client.post("/admin/api/apikey/add/", body, follow=True)
    assert page.status_code == 200
    key = ApiKey.objects.get(name="Client WMS")
    shown = [str(m) for m in page.context["messages"] if str(m).startswith("Secret of")]
    assert len(shown) == 1
    secret = shown[0].split(": ", 1)[1].split(" ", 1)[0]
    assert hashlib.sha256(secret.encode()).hexdigest() == key.secret_hash
    assert ApiClient(Key(key, secret)).get("/api/v1/orders/").status_code == 200
    again = client.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    assert secret not in again and key.secret_hash not in again
