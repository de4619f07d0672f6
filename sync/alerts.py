"""Alerts: opened when something needs a person, resolved when its cause is gone."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from sync.models import Alert


def alert_open(
    *,
    account_id: int,
    key: str,
    kind: str,
    message: str,
    merchant_id: int | None = None,
    cart_id: int | None = None,
) -> Alert:
    """Open the alert for `key`, or refresh the one already open (one open alert per key)."""
    now = timezone.now()
    open_alert = Alert.objects.filter(key=key, resolved_at__isnull=True).first()
    if open_alert is not None:
        Alert.objects.filter(pk=open_alert.pk).update(message=message, last_seen_at=now)
        open_alert.message, open_alert.last_seen_at = message, now
        return open_alert
    try:
        with transaction.atomic():
            return Alert.objects.create(
                account_id=account_id,
                merchant_id=merchant_id,
                cart_id=cart_id,
                kind=kind,
                key=key,
                message=message,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:
        # Another process opened it between our read and our insert: that one stands.
        return Alert.objects.get(key=key, resolved_at__isnull=True)


def alert_resolve(key: str) -> bool:
    """Resolve the open alert for `key`, if any. Return whether one was open."""
    return bool(
        Alert.objects.filter(key=key, resolved_at__isnull=True).update(resolved_at=timezone.now())
    )
