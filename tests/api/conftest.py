"""API test helpers: keys of every level, an API cart, and a client that sends a key."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from api.services import api_key_create
from carts.models import CartConnection


@pytest.fixture(autouse=True)
def api_limits(settings):
    """A generous throttle and a fresh throttle cache, unless a test lowers them."""
    settings.API_THROTTLE_RATE = "100000/min"
    cache.clear()
    yield
    cache.clear()


@dataclass
class Key:
    key: object
    secret: str

    @property
    def bearer(self) -> str:
        return f"Bearer {self.key.key_id}.{self.secret}"

    @property
    def basic(self) -> str:
        raw = f"{self.key.key_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @property
    def auth(self) -> tuple[str, str]:
        """For `requests`: HTTP Basic."""
        return (self.key.key_id, self.secret)


class ApiClient:
    """A Django test client that sends one key and JSON."""

    def __init__(self, key: Key | None) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": key.bearer} if key else {}

    def get(self, path: str, **params):
        return self.client.get(path, params, **self.headers)

    def post(self, path: str, body=None, **extra):
        return self.client.post(
            path,
            body if body is not None else {},
            content_type="application/json",
            **self.headers,
            **extra,
        )

    def patch(self, path: str, body=None):
        return self.client.patch(path, body or {}, content_type="application/json", **self.headers)

    def delete(self, path: str):
        return self.client.delete(path, **self.headers)


def make_api_cart(merchant, **fields) -> CartConnection:
    return CartConnection.objects.create(
        account=merchant.account,
        merchant=merchant,
        kind="api",
        order_source=fields.pop("order_source", f"API {merchant.name}"),
        credentials={},
        **fields,
    )


def key_for(level: str, *, account, merchant=None, cart=None, name: str = "test") -> Key:
    key, secret = api_key_create(
        account=account, level=level, name=name, merchant=merchant, cart=cart
    )
    return Key(key, secret)


@pytest.fixture
def api_cart(world) -> CartConnection:
    return make_api_cart(world.merchant_a)


@pytest.fixture
def warehouse_key(world) -> Key:
    return key_for("warehouse", account=world.account)


@pytest.fixture
def merchant_key(world) -> Key:
    return key_for("merchant", account=world.account, merchant=world.merchant_a)


@pytest.fixture
def cart_key(world, api_cart) -> Key:
    return key_for("cart", account=world.account, cart=api_cart)


def order_body(external_id: str = "ext-1", **overrides) -> dict:
    body = {
        "external_id": external_id,
        "order_number": f"#{external_id}",
        "customer_name": "Ana Ruiz",
        "customer_email": "ana@example.com",
        "ship_to": {
            "name": "Ana Ruiz",
            "address1": "1 Harbor Road",
            "city": "Dayton",
            "state": "OH",
            "postal_code": "45402",
            "country": "US",
        },
        "ship_method_code": "GROUND",
        "lines": [
            {"line_id": "L1", "sku": "SKU-1", "quantity": 2, "price": "9.95"},
            {"line_id": "L2", "sku": "SKU-2", "quantity": 1},
        ],
    }
    body.update(overrides)
    return body
