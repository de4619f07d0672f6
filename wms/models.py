"""The account's warehouse management system: which one, and how to reach it."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from cartrover.crypto import EncryptedJSONField
from cartrover.tenancy import TenantQuerySet


class Health(models.TextChoices):
    ACTIVE = "active", "Active"
    DEGRADED = "degraded", "Degraded"
    NEEDS_REAUTH = "needs_reauth", "Needs new credentials"
    PAUSED = "paused", "Paused"


class WmsConfig(models.Model):
    """The one WMS of an account: its kind, settings, encrypted credentials and health."""

    account = models.OneToOneField(
        "merchants.Account", on_delete=models.CASCADE, related_name="wms_config"
    )
    kind = models.CharField(max_length=50)
    settings = models.JSONField(default=dict, blank=True)
    credentials = EncryptedJSONField()
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.ACTIVE)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = None

    class Meta:
        verbose_name = "WMS configuration"

    def __str__(self) -> str:
        return f"{self.kind} WMS of {self.account}"


class WmsShipMethod(models.Model):
    """A ship method the WMS knows: what cart ship codes are mapped to."""

    account = models.ForeignKey(
        "merchants.Account", on_delete=models.CASCADE, related_name="wms_ship_methods"
    )
    code = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    carrier = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = None

    class Meta:
        ordering = ["carrier", "code"]
        constraints = [
            models.UniqueConstraint("account", "code", name="wms_ship_method_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.code}".strip() if self.carrier else self.code


class Warehouse(models.Model):
    """A warehouse (facility) of the account's WMS."""

    account = models.ForeignKey(
        "merchants.Account", on_delete=models.CASCADE, related_name="warehouses"
    )
    code = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = None

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint("account", "code", name="warehouse_code_unique"),
        ]

    def __str__(self) -> str:
        return self.name or self.code
