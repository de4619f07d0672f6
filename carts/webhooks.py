"""Webhook intake: a cart tells us an order changed; we download it within seconds.

Each cart has its own address (`/hooks/carts/<webhook_key>/`). The adapter verifies the
signature over the raw body; the event id is stored once (`WebhookEvent`), so a duplicate or
replayed event changes nothing; a new event makes the cart's download schedule due now. Many
webhooks for one cart coalesce into one download, and the schedule itself stays the safety net
for webhooks that never arrive.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cartrover.adapters import PING_TOPIC, AdapterError, AuthError
from carts.models import CartConnection
from carts.services import cart_adapter
from sync.models import Schedule, Trigger, WebhookEvent
from sync.scheduler import schedule_run_now

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def cart_webhook(request: HttpRequest, webhook_key: str) -> HttpResponse:
    """Verify, deduplicate and act on one webhook from a cart."""
    cart = CartConnection.objects.select_related("merchant").filter(webhook_key=webhook_key).first()
    if cart is None:
        return JsonResponse({"error": "Unknown webhook address."}, status=404)
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "Body too large."}, status=413)
    body = request.body
    try:
        notice = cart_adapter(cart).parse_webhook(request.headers, body)
    except AuthError:
        log.warning("Cart %s: webhook with a bad signature refused.", cart.pk)
        return JsonResponse({"error": "Signature does not match."}, status=401)
    except AdapterError as exc:
        log.warning("Cart %s: unreadable webhook refused: %s", cart.pk, exc.message)
        return JsonResponse({"error": exc.message}, status=400)
    if notice.topic == PING_TOPIC and not notice.event_id:
        return JsonResponse({"status": "ping acknowledged"})
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                account_id=cart.account_id,
                cart=cart,
                event_id=notice.event_id[:200],
                topic=notice.topic[:100],
            )
    except IntegrityError:
        return JsonResponse({"status": "duplicate"})
    schedule = Schedule.objects.filter(cart=cart, flow="download", enabled=True).first()
    if schedule is not None:
        schedule_run_now(schedule, trigger=Trigger.WEBHOOK)
    return JsonResponse({"status": "accepted"})
