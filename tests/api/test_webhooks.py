"""Signed outbound webhooks: an outbox over order events, retried, recorded, replayable."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import WebhookDelivery
from api.outbound import webhook_delivery_replay, webhooks_outbox_scan, webhooks_send_due
from tests.api.conftest import ApiClient, key_for
from tests.hub import Hub
from tests.sandbox.receiver import WebhookReceiver


@pytest.fixture(autouse=True)
def loopback(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


def create_endpoint(hub: Hub, url: str, events: list[str] | None = None) -> tuple[int, str]:
    key = key_for("merchant", account=hub.world.account, merchant=hub.world.merchant_a)
    body = {"url": url, "events": events or []}
    response = ApiClient(key).post("/api/v1/webhooks/", body)
    assert response.status_code == 201, response.content
    return response.json()["id"], response.json()["secret"]


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    message = headers["x-hub-timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-hub-signature"])


def test_order_events_are_delivered_signed_once_each(hub: Hub):
    with WebhookReceiver() as receiver:
        _, secret = create_endpoint(hub, receiver.url)
        hub.run("download")
        hub.run("delivery")
        created = webhooks_outbox_scan()
        assert webhooks_outbox_scan() == 0
        assert webhooks_send_due() == created == 12
    assert len(receiver.received) == 12
    assert all(verify(secret, r.headers, r.body) for r in receiver.received)
    events = [json.loads(r.body)["event"] for r in receiver.received]
    assert sorted(set(events)) == ["order.delivered", "order.downloaded"]
    assert events.count("order.downloaded") == 6
    first = json.loads(receiver.received[0].body)
    assert first["order"]["key"] == f"H{first['order']['id']}"
    assert WebhookDelivery.objects.filter(delivered_at__isnull=True).count() == 0
    assert webhooks_send_due() == 0


def test_endpoint_gets_only_the_events_it_chose(hub: Hub):
    with WebhookReceiver() as receiver:
        create_endpoint(hub, receiver.url, events=["order.shipped", "inventory.pushed"])
        hub.run("download")
        hub.run("delivery")
        hub.run("ship_confirm")
        hub.run("inventory")
        hub.run("inventory_upload")
        webhooks_outbox_scan()
        webhooks_send_due()
    events = sorted({json.loads(r.body)["event"] for r in receiver.received})
    assert events == ["inventory.pushed", "order.shipped"]


def test_failing_receiver_is_retried_with_backoff_and_every_attempt_recorded(hub: Hub):
    with WebhookReceiver(status=500) as failing:
        create_endpoint(hub, failing.url, events=["order.downloaded"])
        hub.run("download")
        webhooks_outbox_scan()
        webhooks_send_due()
        delivery = WebhookDelivery.objects.order_by("id").first()
        assert delivery.attempts == 1 and delivery.last_status == 500
        assert delivery.delivered_at is None and delivery.next_attempt_at > timezone.now()
        # Not due again yet; due after its backoff.
        before = len(failing.received)
        webhooks_send_due()
        assert len(failing.received) == before
        webhooks_send_due(now=delivery.next_attempt_at + timedelta(seconds=1))
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert [a["status"] for a in delivery.attempt_log] == [500, 500]
    with WebhookReceiver() as fixed:
        delivery.endpoint.url = fixed.url
        delivery.endpoint.save()
        assert webhook_delivery_replay(delivery)
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None and delivery.attempts == 3
    assert len(fixed.received) == 1


def test_delivery_gives_up_after_the_last_attempt(hub: Hub, settings):
    settings.API_WEBHOOK_MAX_ATTEMPTS = 2
    with WebhookReceiver(status=503) as failing:
        create_endpoint(hub, failing.url, events=["order.downloaded"])
        hub.run("download")
        webhooks_outbox_scan()
        later = timezone.now()
        for _ in range(4):
            later += timedelta(days=1)
            webhooks_send_due(now=later)
    attempts = set(WebhookDelivery.objects.values_list("attempts", "next_attempt_at"))
    assert attempts == {(2, None)}


def test_deliveries_and_replay_through_the_api(hub: Hub):
    key = key_for("merchant", account=hub.world.account, merchant=hub.world.merchant_a)
    with WebhookReceiver(status=500) as failing:
        endpoint_id, _ = create_endpoint(hub, failing.url, events=["order.downloaded"])
        hub.run("download")
        webhooks_outbox_scan()
        webhooks_send_due()
    listed = ApiClient(key).get(f"/api/v1/webhooks/{endpoint_id}/deliveries/").json()["results"]
    assert len(listed) == 6 and {d["last_status"] for d in listed} == {500}
    with WebhookReceiver() as fixed:
        ApiClient(key).patch(f"/api/v1/webhooks/{endpoint_id}/", {"url": fixed.url})
        replayed = ApiClient(key).post(f"/api/v1/webhook-deliveries/{listed[0]['id']}/replay/")
    assert replayed.status_code == 200
    assert replayed.json()["delivered_at"] is not None
    assert len(fixed.received) == 1
