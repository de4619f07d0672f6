"""Webhook intake: verified on the raw body, deduplicated, and turned into a download now."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from carts.adapters.dummy.adapter import SIGNATURE_HEADER, sign
from sync.models import Schedule, WebhookEvent
from sync.scheduler import schedule_run, schedules_claim

pytestmark = pytest.mark.django_db


def post(client, cart, payload, *, secret="sandbox-key", signature=None, **extra):
    body = json.dumps(payload).encode()
    headers = {
        f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": signature or sign(secret, body)
    }
    return client.post(
        reverse("cart_webhook", args=[cart.webhook_key]),
        body,
        content_type="application/json",
        **headers,
        **extra,
    )


def later(hub):
    schedule = hub.schedule("download")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    return schedule


def test_a_signed_webhook_makes_the_download_due_now_and_the_order_is_stored(
    client, hub, django_capture_on_commit_callbacks
):
    schedule = later(hub)
    with django_capture_on_commit_callbacks(execute=False):
        response = post(client, hub.cart, {"id": "evt-1", "topic": "orders/create"})
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    schedule.refresh_from_db()
    assert schedule.next_run_at <= timezone.now()
    ids, token = schedules_claim()
    assert schedule.pk in ids
    run = schedule_run(schedule.pk, token)
    assert run.trigger == "webhook"
    assert run.counts["new"] == 6


def test_a_duplicate_webhook_changes_nothing(client, hub, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        post(client, hub.cart, {"id": "evt-2", "topic": "orders/create"})
    schedule = later(hub)
    before = Schedule.objects.get(pk=schedule.pk).next_run_at
    response = post(client, hub.cart, {"id": "evt-2", "topic": "orders/create"})
    assert response.json() == {"status": "duplicate"}
    assert Schedule.objects.get(pk=schedule.pk).next_run_at == before
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize(
    "signature", ["", "bm90IGEgc2lnbmF0dXJl", sign("another-secret", b'{"id":"evt-3"}')]
)
def test_a_forged_webhook_is_refused_and_nothing_processed(client, hub, signature):
    schedule = later(hub)
    before = Schedule.objects.get(pk=schedule.pk).next_run_at
    response = post(client, hub.cart, {"id": "evt-3", "topic": "x"}, signature=signature or "x")
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert Schedule.objects.get(pk=schedule.pk).next_run_at == before


def test_a_signature_over_reserialized_json_is_refused(client, hub):
    body = b'{"id": "evt-4",   "topic": "orders/create"}'
    forged = sign("sandbox-key", json.dumps(json.loads(body)).encode())
    response = client.post(
        reverse("cart_webhook", args=[hub.cart.webhook_key]),
        body,
        content_type="application/json",
        **{f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": forged},
    )
    assert response.status_code == 401


def test_an_unknown_webhook_address_is_a_404(client, hub):
    response = client.post("/hooks/carts/not-a-key/", b"{}", content_type="application/json")
    assert response.status_code == 404


def test_an_oversized_body_is_refused(client, hub, settings):
    settings.WEBHOOK_MAX_BYTES = 100
    response = post(client, hub.cart, {"id": "evt-5", "topic": "x", "pad": "y" * 200})
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_webhooks_only_accept_post(client, hub):
    assert client.get(reverse("cart_webhook", args=[hub.cart.webhook_key])).status_code == 405
