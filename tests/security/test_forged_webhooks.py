"""Forged, replayed and oversized webhooks of every cart kind that takes webhooks.

Each kind's genuine delivery is built the way the platform builds it (Shopify and WooCommerce
sign the raw body with HMAC-SHA256; BigCommerce sends back the secret header the hook was
registered with). Every forgery is refused with the right status and leaves nothing behind:
no WebhookEvent, no download made due, no task queued, no order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from carts.models import CartConnection
from orders.models import Order
from sync.models import Schedule, WebhookEvent
from tests import factories

pytestmark = pytest.mark.django_db

SECRET = "whsec-2f9c1e7a5b3d"


def _hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Kind:
    """How one platform delivers a webhook: credentials, a body, and the headers it sends."""

    kind: str
    credentials: dict[str, str]
    body: Callable[[int], bytes]
    headers: Callable[[bytes, str], dict[str, str]]
    signs_the_body: bool


def shopify_headers(body: bytes, secret: str) -> dict[str, str]:
    return {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": _hmac(secret, body),
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Triggered-At": timezone.now().isoformat(),
    }


def woocommerce_headers(body: bytes, secret: str) -> dict[str, str]:
    return {
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Signature": _hmac(secret, body),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": "a1b2c3d4e5",
    }


def bigcommerce_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Cartrover-Webhook-Secret": secret}


KINDS = {
    "shopify": Kind(
        "shopify",
        {"shop_url": "https://sandbox.myshopify.com", "access_token": "shpat_x"},
        lambda order_id: json.dumps({"id": order_id, "name": f"#{order_id}"}).encode(),
        shopify_headers,
        signs_the_body=True,
    ),
    "woocommerce": Kind(
        "woocommerce",
        {"store_url": "https://shop.example", "consumer_key": "ck_x", "consumer_secret": "cs_x"},
        lambda order_id: json.dumps({"id": order_id, "status": "processing"}).encode(),
        woocommerce_headers,
        signs_the_body=True,
    ),
    "bigcommerce": Kind(
        "bigcommerce",
        {"store_hash": "abc123", "access_token": "tok"},
        lambda order_id: json.dumps(
            {
                "scope": "store/order/created",
                "store_id": "1001",
                "data": {"type": "order", "id": order_id},
                "hash": hashlib.sha1(str(order_id).encode()).hexdigest(),  # noqa: S324
                "created_at": int(timezone.now().timestamp()),
                "producer": "stores/abc123",
            }
        ).encode(),
        bigcommerce_headers,
        signs_the_body=False,
    ),
}
SIGNING = [k for k, v in KINDS.items() if v.signs_the_body]


@pytest.fixture
def merchant(db):
    return factories.MerchantFactory(account=factories.AccountFactory(name="Hooks"))


def make_cart(merchant, spec: Kind) -> CartConnection:
    return CartConnection.objects.create(
        account=merchant.account,
        merchant=merchant,
        kind=spec.kind,
        order_source=spec.kind,
        credentials={**spec.credentials, "webhook_secret": SECRET},
    )


def deliver(client, cart: CartConnection, body: bytes, headers: dict[str, str]):
    meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return client.post(
        reverse("cart_webhook", args=[cart.webhook_key]),
        body,
        content_type="application/json",
        **meta,
    )


class Intake:
    """A cart whose download is an hour away, and what a webhook may have changed."""

    def __init__(self, cart: CartConnection) -> None:
        self.cart = cart
        self.schedule = Schedule.objects.get(cart=cart, flow="download")
        self.later = timezone.now() + timedelta(hours=1)
        Schedule.objects.filter(pk=self.schedule.pk).update(next_run_at=self.later)

    def poked(self) -> bool:
        return Schedule.objects.get(pk=self.schedule.pk).next_run_at < self.later

    def untouched(self) -> bool:
        return (
            not WebhookEvent.objects.filter(cart=self.cart).exists()
            and not self.poked()
            and not Order.objects.filter(cart=self.cart).exists()
        )


def send(client, capture, intake: Intake, body: bytes, headers: dict[str, str]):
    """Deliver and return (response, number of tasks the request queued)."""
    with capture(execute=False) as queued:
        response = deliver(client, intake.cart, body, headers)
    return response, len(queued)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_genuine_delivery_is_accepted_and_makes_the_download_due(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    body = spec.body(4501)

    response, queued = send(
        client, django_capture_on_commit_callbacks, intake, body, spec.headers(body, SECRET)
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted"}
    assert WebhookEvent.objects.filter(cart=intake.cart).count() == 1
    assert intake.poked() and queued == 1


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("forgery", ["wrong secret", "no signature"])
def test_a_forged_signature_is_401_and_nothing_is_processed(
    kind, forgery, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    body = spec.body(4502)
    headers = {
        "wrong secret": spec.headers(body, "not-the-secret"),
        "no signature": {
            k: v
            for k, v in spec.headers(body, SECRET).items()
            if k not in ("X-Shopify-Hmac-Sha256", "X-WC-Webhook-Signature")
            and k != "X-Cartrover-Webhook-Secret"
        },
    }[forgery]

    response, queued = send(client, django_capture_on_commit_callbacks, intake, body, headers)

    assert response.status_code == 401
    assert intake.untouched() and queued == 0


@pytest.mark.parametrize("kind", SIGNING)
def test_a_signature_over_reserialized_json_is_401(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    sent = b'{"id": 4503,\n  "status": "processing",  "name": "#4503"}'
    # What a verifier that parsed the body first would have checked: other bytes.
    reserialized = json.dumps(json.loads(sent), separators=(",", ":")).encode()

    response, queued = send(
        client,
        django_capture_on_commit_callbacks,
        intake,
        sent,
        spec.headers(reserialized, SECRET),
    )

    assert response.status_code == 401
    assert intake.untouched() and queued == 0


@pytest.mark.parametrize("kind", SIGNING)
def test_a_signed_body_changed_in_transit_is_401(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    body = spec.body(4504)

    response, queued = send(
        client,
        django_capture_on_commit_callbacks,
        intake,
        body.replace(b"4504", b"4505"),
        spec.headers(body, SECRET),
    )

    assert response.status_code == 401
    assert intake.untouched() and queued == 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_replayed_old_delivery_is_a_duplicate_and_pokes_nothing(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    # Within the retry window a replay is recognised by its delivery: the same id, or the
    # same scope, resource, time and hash.
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    body = spec.body(4506)
    headers = spec.headers(body, SECRET)
    send(client, django_capture_on_commit_callbacks, intake, body, headers)
    Schedule.objects.filter(pk=intake.schedule.pk).update(next_run_at=intake.later)

    response, queued = send(client, django_capture_on_commit_callbacks, intake, body, headers)

    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.filter(cart=intake.cart).count() == 1
    assert not intake.poked() and queued == 0


def stale(kind: str, body: bytes, headers: dict[str, str], days: int) -> tuple[bytes, dict]:
    """Return the delivery as if sent `days` ago (Shopify's header, BigCommerce's body)."""
    sent = timezone.now() - timedelta(days=days)
    if kind == "shopify":
        return body, {**headers, "X-Shopify-Triggered-At": sent.isoformat()}
    payload = {**json.loads(body), "created_at": int(sent.timestamp())}
    return json.dumps(payload).encode(), headers


@pytest.mark.parametrize("kind", ["shopify", "bigcommerce"])
def test_a_delivery_older_than_any_retry_is_refused_as_a_replay(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    body, headers = stale(kind, spec.body(4508), spec.headers(spec.body(4508), SECRET), days=4)

    response, queued = send(client, django_capture_on_commit_callbacks, intake, body, headers)

    assert response.status_code == 400
    assert "refused as a replay" in response.json()["error"]
    assert intake.untouched() and queued == 0


@pytest.mark.parametrize("kind", ["shopify", "bigcommerce"])
def test_a_platform_retry_two_days_late_is_still_accepted(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    body, headers = stale(kind, spec.body(4509), spec.headers(spec.body(4509), SECRET), days=2)

    response, _ = send(client, django_capture_on_commit_callbacks, intake, body, headers)

    assert response.status_code == 200, response.content
    assert intake.poked()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_body_over_the_size_limit_is_413_before_it_is_read(
    kind, client, merchant, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_BYTES = 2_000
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    payload = json.loads(spec.body(4507))
    payload["note"] = "x" * 5_000
    body = json.dumps(payload).encode()

    response, queued = send(
        client, django_capture_on_commit_callbacks, intake, body, spec.headers(body, SECRET)
    )

    assert response.status_code == 413
    assert intake.untouched() and queued == 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_correctly_signed_body_that_is_not_the_platforms_json_is_400(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    intake = Intake(make_cart(merchant, spec))
    body = b"<xml>not json</xml>"

    response, queued = send(
        client, django_capture_on_commit_callbacks, intake, body, spec.headers(body, SECRET)
    )

    assert response.status_code == 400
    assert intake.untouched() and queued == 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_delivery_signed_for_one_cart_is_refused_at_another_carts_address(
    kind, client, merchant, django_capture_on_commit_callbacks
):
    spec = KINDS[kind]
    other = factories.MerchantFactory(account=factories.AccountFactory(name="Other"))
    mine = make_cart(merchant, spec)
    theirs = CartConnection.objects.create(
        account=other.account,
        merchant=other,
        kind=spec.kind,
        order_source=spec.kind,
        credentials={**spec.credentials, "webhook_secret": "their-own-secret"},
    )
    intake = Intake(theirs)
    body = spec.body(4508)

    response, queued = send(
        client, django_capture_on_commit_callbacks, intake, body, spec.headers(body, SECRET)
    )

    assert response.status_code == 401
    assert intake.untouched() and queued == 0
    assert not WebhookEvent.objects.filter(cart=mine).exists()
