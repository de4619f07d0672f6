"""The REST API's rows: keys that authenticate callers, and signed outbound webhooks."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from cartrover.crypto import EncryptedJSONField
from cartrover.tenancy import TenantQuerySet


class KeyLevel(models.TextChoices):
    CART = "cart", "Cart (push orders into one API cart)"
    MERCHANT = "merchant", "Merchant (one merchant's orders, shipments, inventory)"
    WAREHOUSE = "warehouse", "Warehouse (the whole account)"


class ApiKey(models.Model):
    """A credential for the REST API: a public key id and the SHA-256 of a secret shown once."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    cart = models.ForeignKey(
        "carts.CartConnection",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    level = models.CharField(max_length=20, choices=KeyLevel.choices)
    name = models.CharField(max_length=200)
    key_id = models.CharField(max_length=40, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["account", "name"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(level="warehouse", merchant__isnull=True, cart__isnull=True)
                    | models.Q(level="merchant", merchant__isnull=False, cart__isnull=True)
                    | models.Q(level="cart", merchant__isnull=False, cart__isnull=False)
                ),
                name="api_key_level_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class WebhookEndpoint(models.Model):
    """An address of a merchant's system that receives signed order and inventory events."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    secret = EncryptedJSONField(help_text="{'secret': ...}: signs every delivery.")
    events = models.JSONField(default=list, blank=True, help_text="Empty: every event.")
    active = models.BooleanField(default=True)
    # The outbox cursors: the last OrderEvent and inventory-upload JobRun this endpoint was
    # offered. A new endpoint starts at the newest rows: it hears about what happens next.
    last_event_id = models.BigIntegerField(default=0)
    last_job_run_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["merchant", "url"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event to send to one endpoint, with every attempt's outcome; replayable."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=50)
    event_key = models.CharField(max_length=100, help_text="Unique per endpoint: no duplicates.")
    payload = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)
    attempt_log = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "endpoint__merchant"

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint("endpoint", "event_key", name="webhook_delivery_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"
