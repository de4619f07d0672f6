"""The engine's state: when each flow runs next, what each run did, what is wrong."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone

from cartrover.tenancy import TenantQuerySet
from sync.flows import Flow


class Schedule(models.Model):
    """When one flow of one cart or merchant runs next, and who holds it now (the lease)."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="schedules"
    )
    cart = models.ForeignKey(
        "carts.CartConnection",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedules",
    )
    flow = models.CharField(max_length=20, choices=Flow.choices)
    interval = models.PositiveIntegerField(help_text="Minutes between runs.")
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    cursor = models.DateTimeField(
        null=True, blank=True, help_text="How far the flow has read its source."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=20, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["merchant", "cart", "flow"]
        constraints = [
            models.UniqueConstraint(
                "flow", "cart", condition=Q(cart__isnull=False), name="schedule_cart_flow_unique"
            ),
            models.UniqueConstraint(
                "flow",
                "merchant",
                condition=Q(cart__isnull=True),
                name="schedule_merchant_flow_unique",
            ),
        ]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="schedule_due")]

    def __str__(self) -> str:
        return f"{self.get_flow_display()} of {self.cart or self.merchant}"


def schedules_poke(schedules: models.QuerySet[Schedule], now: datetime) -> int:
    """Make schedules due at `now` (run now, a webhook, new orders to deliver).

    Many pokes coalesce into one run. A schedule running at this moment keeps the poke: its
    run, when it ends, leaves it due, so what the poke was about is not left for an interval.
    """
    return schedules.filter(Q(next_run_at__gt=now) | Q(lease_until__isnull=False)).update(
        next_run_at=now
    )


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Run now"
    WEBHOOK = "webhook", "Webhook"


class Outcome(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    PARTIAL = "partial", "Partly failed"
    FAILED = "failed", "Failed"
    DEFERRED = "deferred", "Deferred"


class JobRun(models.Model):
    """One run of one flow: when, why, what it counted and logged, how it ended."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    cart = models.ForeignKey(
        "carts.CartConnection", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    schedule = models.ForeignKey(
        Schedule, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    flow = models.CharField(max_length=20, choices=Flow.choices)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULE)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-started_at"], name="jobrun_recent"),
            # Housekeeping deletes the oldest runs across all accounts.
            models.Index(fields=["started_at"], name="jobrun_started"),
        ]

    def __str__(self) -> str:
        return f"{self.get_flow_display()} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class Alert(models.Model):
    """Something a person must look at; resolves itself when its cause is gone."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    cart = models.ForeignKey(
        "carts.CartConnection", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=50)
    key = models.CharField(max_length=200, help_text="One open alert per key.")
    message = models.TextField()
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                "key", condition=Q(resolved_at__isnull=True), name="alert_open_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.message


class WebhookEvent(models.Model):
    """A webhook a cart sent, kept so a replayed event is recognized and ignored."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    cart = models.ForeignKey(
        "carts.CartConnection", on_delete=models.CASCADE, related_name="webhook_events"
    )
    event_id = models.CharField(max_length=200)
    topic = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "cart__merchant"

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["received_at"], name="webhookevent_received")]
        constraints = [
            models.UniqueConstraint("cart", "event_id", name="webhook_event_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.event_id}"


class BatchState(models.TextChoices):
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to be sent again"
    DONE = "done", "Finished"
    FAILED = "failed", "Given up"


class DeliveryBatch(models.Model):
    """Orders claimed together for one WMS delivery: the outbox row a retry sends again.

    Written, and its orders claimed, in one transaction before anything leaves the hub. The
    payload is what the WMS receives, so a retry sends the same orders with the same bytes
    (and the same file name) however the merchant's other orders changed meanwhile.
    """

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="delivery_batches"
    )
    wms_kind = models.CharField(max_length=50)
    state = models.CharField(max_length=20, choices=BatchState.choices, default=BatchState.SENDING)
    payload = models.JSONField(default=list, help_text="The orders as the WMS receives them.")
    payload_hash = models.CharField(max_length=64, blank=True)
    order_count = models.PositiveIntegerField(default=0)
    reference = models.CharField(
        max_length=200, blank=True, help_text="What the WMS calls it (a file name, ...)."
    )
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="While sending: when the sending run's claim expires."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["merchant", "state", "next_attempt_at"], name="deliverybatch_open"
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk}"
