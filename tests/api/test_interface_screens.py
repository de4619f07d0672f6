"""A merchant's extra interfaces in the web UI: signed webhooks added, changed, resent, removed."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from api.models import WebhookDelivery, WebhookEndpoint
from api.outbound import sign, webhook_endpoint_create
from tests.sandbox.receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


def secret_on(page: str) -> str:
    return re.search(r'<code class="secret">([^<]+)</code>', page).group(1)


def test_staff_add_an_endpoint_and_see_its_signing_secret_once(client, world, settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    client.force_login(world.staff)
    url = reverse("webhook_endpoints", args=[world.merchant_a.pk])

    page = client.post(
        url,
        {"url": "http://127.0.0.1:9/hooks", "events": ["order.shipped"], "active": "on"},
    ).content.decode()

    endpoint = WebhookEndpoint.objects.get(merchant=world.merchant_a)
    assert endpoint.events == ["order.shipped"] and endpoint.active
    assert endpoint.secret["secret"] == secret_on(page)
    assert endpoint.secret["secret"] not in client.get(url).content.decode()


def test_an_address_on_a_private_network_is_refused_next_to_the_field(client, world, settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = False
    settings.HTTP_ALLOWED_NETWORKS = []
    client.force_login(world.admin)

    response = client.post(
        reverse("webhook_endpoints", args=[world.merchant_a.pk]),
        {"url": "http://169.254.169.254/latest", "active": "on"},
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "link-local address" in body and "HTTP_ALLOWED_NETWORKS" in body
    assert 'value="http://169.254.169.254/latest"' in body
    assert not WebhookEndpoint.objects.exists()


def test_a_new_merchant_with_a_webhook_address_gets_its_endpoint(client, world, settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    client.force_login(world.admin)

    page = client.post(
        reverse("merchant_new"),
        {
            "name": "Coastal Candles",
            "active": "on",
            "delivery_interval": 5,
            "ship_confirm_interval": 15,
            "inventory_interval": 60,
            "webhook_url": "http://127.0.0.1:9/hooks",
        },
    ).content.decode()

    endpoint = WebhookEndpoint.objects.get(merchant__name="Coastal Candles")
    assert endpoint.url == "http://127.0.0.1:9/hooks" and endpoint.events == []
    assert secret_on(page) == endpoint.secret["secret"]


def test_a_merchant_user_pauses_and_removes_its_own_endpoint(client, world):
    endpoint, _ = webhook_endpoint_create(merchant=world.merchant_a, url="https://erp.example/h")
    client.force_login(world.merchant_user_a)
    detail = reverse("webhook_endpoint_detail", args=[endpoint.pk])

    client.post(detail, {"url": endpoint.url, "events": ["order.held"]})
    endpoint.refresh_from_db()
    assert endpoint.active is False and endpoint.events == ["order.held"]

    response = client.post(reverse("webhook_endpoint_delete", args=[endpoint.pk]))
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_a_failed_delivery_is_sent_again_signed_after_the_receiver_is_fixed(
    client, world, settings
):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    client.force_login(world.staff)
    with WebhookReceiver() as receiver:
        endpoint, secret = webhook_endpoint_create(merchant=world.merchant_a, url=receiver.url)
        delivery = WebhookDelivery.objects.create(
            account=world.account,
            endpoint=endpoint,
            event="order.shipped",
            event_key="order.shipped:1",
            payload={"event": "order.shipped"},
            attempts=3,
            last_status=500,
        )

        response = client.post(reverse("webhook_delivery_resend", args=[delivery.pk]), follow=True)

        assert "the endpoint accepted it" in response.content.decode()
        delivery.refresh_from_db()
        assert delivery.delivered_at is not None
        (sent,) = receiver.received
        timestamp = sent.headers["x-hub-timestamp"]
        assert sent.headers["x-hub-signature"] == sign(secret, timestamp, sent.body)
