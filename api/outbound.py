"""Signed outbound webhooks: order and inventory events sent to a merchant's systems.

Nothing in the flows knows about webhooks. A beat task scans an outbox: the OrderEvent rows
(and inventory-upload JobRuns) written since each endpoint's cursor become WebhookDelivery
rows, unique per (endpoint, event), so a scan that runs twice creates nothing twice. Each
delivery is POSTed with

    X-Hub-Timestamp: <unix seconds>
    X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

and retried with exponential backoff until the receiver answers 2xx or the attempts run out.
Every attempt is recorded on the delivery; `webhook_delivery_replay` sends one again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from api.models import WebhookDelivery, WebhookEndpoint
from cartrover.adapters import AdapterError
from cartrover.http import HttpClient
from orders.models import EventKind, OrderEvent
from sync.models import JobRun, Outcome

log = logging.getLogger(__name__)

ORDER_EVENTS = {
    EventKind.DOWNLOADED: "order.downloaded",
    EventKind.HELD: "order.held",
    EventKind.DELIVERED: "order.delivered",
    EventKind.SHIPMENT_RECEIVED: "order.shipped",
    EventKind.CONFIRMED: "order.confirmed",
    EventKind.CANCELED: "order.canceled",
}
INVENTORY_PUSHED = "inventory.pushed"
EVENTS = (*ORDER_EVENTS.values(), INVENTORY_PUSHED)
SCAN_BATCH = 1000
RESPONSE_SNIPPET = 500


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the X-Hub-Signature value of a body sent at `timestamp`."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_endpoint_create(
    *, merchant: Any, url: str, events: list[str] | None = None, active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint and return it with its signing secret (shown to the caller once).

    It starts at the newest events: it hears about what happens from now on.
    """
    secret = secrets.token_urlsafe(32)
    last_event = OrderEvent.objects.aggregate(m=Max("id"))["m"] or 0
    last_run = JobRun.objects.aggregate(m=Max("id"))["m"] or 0
    endpoint = WebhookEndpoint.objects.create(
        account_id=merchant.account_id,
        merchant=merchant,
        url=url,
        secret={"secret": secret},
        events=sorted(set(events or [])),
        active=active,
        last_event_id=last_event,
        last_job_run_id=last_run,
    )
    return endpoint, secret


def _wants(endpoint: WebhookEndpoint, event: str) -> bool:
    return not endpoint.events or event in endpoint.events


def _order_payload(event: OrderEvent, name: str) -> dict[str, Any]:
    order = event.order
    return {
        "event": name,
        "occurred_at": event.at.isoformat(),
        "message": event.message,
        "data": event.data,
        "order": {
            "id": order.pk,
            "key": order.key,
            "merchant": order.merchant_id,
            "cart": order.cart_id,
            "external_id": order.external_id,
            "order_number": order.order_number,
            "status": order.status,
        },
    }


def webhooks_outbox_scan(*, now: datetime | None = None) -> int:
    """Turn events since each active endpoint's cursors into deliveries; return how many."""
    now = now or timezone.now()
    created = 0
    for endpoint in WebhookEndpoint.objects.filter(active=True):
        created += _scan_order_events(endpoint, now)
        created += _scan_inventory_runs(endpoint, now)
    return created


def _scan_order_events(endpoint: WebhookEndpoint, now: datetime) -> int:
    events = list(
        OrderEvent.objects.filter(
            id__gt=endpoint.last_event_id, order__merchant_id=endpoint.merchant_id
        )
        .select_related("order")
        .order_by("id")[:SCAN_BATCH]
    )
    if not events:
        return 0
    rows = [
        WebhookDelivery(
            account_id=endpoint.account_id,
            endpoint=endpoint,
            event=ORDER_EVENTS[e.kind],  # type: ignore[index]
            event_key=f"order_event:{e.pk}",
            payload={"id": f"order_event:{e.pk}", **_order_payload(e, ORDER_EVENTS[e.kind])},  # type: ignore[index]
            next_attempt_at=now,
        )
        for e in events
        if e.kind in ORDER_EVENTS and _wants(endpoint, ORDER_EVENTS[e.kind])  # type: ignore[index]
    ]
    return _store(endpoint, rows, last_event_id=events[-1].pk)


def _scan_inventory_runs(endpoint: WebhookEndpoint, now: datetime) -> int:
    runs = list(
        JobRun.objects.filter(
            id__gt=endpoint.last_job_run_id,
            merchant_id=endpoint.merchant_id,
            finished_at__isnull=False,
        )
        .exclude(outcome=Outcome.RUNNING)
        .order_by("id")[:SCAN_BATCH]
    )
    if not runs:
        return 0
    rows = [
        WebhookDelivery(
            account_id=endpoint.account_id,
            endpoint=endpoint,
            event=INVENTORY_PUSHED,
            event_key=f"job_run:{run.pk}",
            payload={
                "id": f"job_run:{run.pk}",
                "event": INVENTORY_PUSHED,
                "occurred_at": (run.finished_at or run.started_at).isoformat(),
                "cart": run.cart_id,
                "merchant": run.merchant_id,
                "sent": int(run.counts.get("sent", 0)),
                "outcome": run.outcome,
            },
            next_attempt_at=now,
        )
        for run in runs
        if run.flow == "inventory_upload"
        and int(run.counts.get("sent", 0)) > 0
        and _wants(endpoint, INVENTORY_PUSHED)
    ]
    return _store(endpoint, rows, last_job_run_id=runs[-1].pk)


def _store(endpoint: WebhookEndpoint, rows: list[WebhookDelivery], **cursor: int) -> int:
    ((name, value),) = cursor.items()
    with transaction.atomic():
        # Move the cursor only from where this scan started: a concurrent scan that moved it
        # first wins, and the unique (endpoint, event_key) keeps deliveries single anyway.
        moved = WebhookEndpoint.objects.filter(
            pk=endpoint.pk, **{name: getattr(endpoint, name)}
        ).update(**{name: value})
        if not moved:
            return 0
        setattr(endpoint, name, value)
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _backoff(attempts: int) -> timedelta:
    base = settings.API_WEBHOOK_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), 6 * 3600))


def webhook_delivery_send(delivery: WebhookDelivery, *, now: datetime | None = None) -> bool:
    """POST one delivery, record the attempt, schedule the next on failure. Return success."""
    now = now or timezone.now()
    endpoint = delivery.endpoint
    secret = str(dict(endpoint.secret).get("secret", ""))
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Event": delivery.event,
        "X-Hub-Delivery": str(delivery.pk),
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": sign(secret, timestamp, body),
    }
    status: int | None = None
    snippet = ""
    try:
        with HttpClient(
            name=f"webhook endpoint {endpoint.pk}",
            secrets=[secret],
            timeout=(5.0, settings.API_WEBHOOK_TIMEOUT_SECONDS),
        ) as client:
            response = client.post(endpoint.url, data=body, headers=headers, allow=range(300, 600))
            status = response.status_code
            snippet = response.text[:RESPONSE_SNIPPET]
    except AdapterError as exc:
        snippet = exc.message[:RESPONSE_SNIPPET]
    ok = status is not None and 200 <= status < 300
    attempts = delivery.attempts + 1
    record = {"at": now.isoformat(), "status": status, "response": snippet}
    fields: dict[str, Any] = {
        "attempts": attempts,
        "attempt_log": [*delivery.attempt_log, record][-20:],
        "last_status": status,
        "last_response": snippet,
    }
    if ok:
        fields.update(delivered_at=now, next_attempt_at=None)
    elif attempts >= settings.API_WEBHOOK_MAX_ATTEMPTS:
        fields.update(next_attempt_at=None)
        log.warning("Webhook delivery %s given up after %s attempts.", delivery.pk, attempts)
    else:
        fields.update(next_attempt_at=now + _backoff(attempts))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return ok


def webhooks_send_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Send the deliveries whose time has come; return how many were attempted."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        delivered_at__isnull=True, next_attempt_at__lte=now, endpoint__active=True
    ).order_by("next_attempt_at", "id")
    sent = 0
    for delivery in due.select_related("endpoint")[:limit]:
        # Claim it: push its next attempt out so a concurrent sender skips it.
        claimed = WebhookDelivery.objects.filter(
            pk=delivery.pk, next_attempt_at=delivery.next_attempt_at
        ).update(next_attempt_at=now + timedelta(seconds=settings.API_WEBHOOK_TIMEOUT_SECONDS * 2))
        if claimed:
            webhook_delivery_send(delivery, now=now)
            sent += 1
    return sent


def webhook_delivery_replay(delivery: WebhookDelivery) -> bool:
    """Send a delivery again now, whatever its past (delivered, failing or given up)."""
    return webhook_delivery_send(delivery)
