"""Alerts: opened when something needs a person, resolved when its cause is gone."""

from __future__ import annotations

import logging
from typing import Any

from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from sync.models import Alert

log = logging.getLogger(__name__)


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
            alert = Alert.objects.create(
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
    transaction.on_commit(lambda: alert_notify(alert))
    return alert


def alert_resolve(key: str) -> bool:
    """Resolve the open alert for `key`, if any. Return whether one was open."""
    return bool(
        Alert.objects.filter(key=key, resolved_at__isnull=True).update(resolved_at=timezone.now())
    )


def alert_recipients(alert: Alert) -> list[str]:
    """Return who hears of a new alert: the merchant's alert contacts, and the users who can
    see it and asked for alert emails."""
    from merchants.models import Membership

    emails: set[str] = set()
    if alert.merchant_id and alert.merchant is not None:
        contacts = alert.merchant.alert_emails
        emails |= {e.strip().lower() for e in contacts.split(",") if "@" in e}
    members = Membership.objects.filter(
        account_id=alert.account_id, user__is_active=True, user__email_alerts=True
    ).filter(models.Q(merchant__isnull=True) | models.Q(merchant_id=alert.merchant_id))
    emails |= set(members.values_list("user__email", flat=True))
    return sorted(emails)


def alert_notify(alert: Alert) -> None:
    """Email a new alert to its recipients; a mail failure is logged, never raised."""
    recipients = alert_recipients(alert)
    if not recipients:
        return
    try:
        send_mail(
            subject=f"[Order hub] {alert.message[:120]}",
            message=f"{alert.message}\n\nOpened {alert.opened_at:%Y-%m-%d %H:%M} UTC. "
            "It resolves itself when its cause is gone.",
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        log.exception("Could not email alert %s", alert.pk)


def rows_alert(merchant: Any, kind: str, failed: list[str], what: str) -> None:
    """Open an alert naming unreadable rows the WMS sent; resolve it on a clean run."""
    key = f"merchant:{merchant.pk}:{kind}"
    if not failed:
        alert_resolve(key)
        return
    shown = "; ".join(failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
    alert_open(
        account_id=merchant.account_id,
        merchant_id=merchant.pk,
        key=key,
        kind=kind,
        message=f"{merchant}: {len(failed)} {what} record(s) from the WMS could not be "
        f"applied: {shown}. The rest was loaded; see the job log.",
    )
