"""Cart connections: a merchant's order sources and how the hub talks to each."""

from __future__ import annotations

import secrets
from typing import ClassVar

from django.db import models
from django.utils import timezone

from cartrover.crypto import EncryptedJSONField
from cartrover.tenancy import TenantQuerySet
from sync.flows import Flow, interval_field
from wms.models import Health


def _new_webhook_key() -> str:
    return secrets.token_urlsafe(24)


class CartConnection(models.Model):
    """One order source of a merchant (a shop, a marketplace, an API or CSV cart)."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="carts"
    )
    kind = models.CharField(max_length=50)
    order_source = models.CharField(
        max_length=100, help_text='Sent to the WMS as the order\'s "Order Source".'
    )
    description = models.CharField(max_length=200, blank=True)
    credentials = EncryptedJSONField()
    setup = models.JSONField(default=dict, blank=True, help_text="Kind-specific cart setup.")
    active = models.BooleanField(default=True)

    download_interval = interval_field(Flow.DOWNLOAD, default=5)
    shipment_upload_interval = interval_field(Flow.SHIPMENT_UPLOAD, default=15)
    inventory_upload_interval = interval_field(Flow.INVENTORY_UPLOAD, default=0)

    # Order load options.
    reject_unmapped_ship_codes = models.BooleanField(
        default=False, help_text="Hold orders whose ship method has no mapping to the WMS."
    )
    earliest_order_date = models.DateField(
        null=True, blank=True, help_text="Ignore orders placed before this day."
    )
    inventory_warehouse = models.ForeignKey(
        "wms.Warehouse",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Send stock of this warehouse only; blank sends the sum of all.",
    )
    inventory_alias_type = models.CharField(
        max_length=50,
        blank=True,
        help_text="Send the SKU alias of this type; blank sends the master SKU.",
    )
    inventory_min_level = models.IntegerField(default=0, help_text="Below this quantity, send 0.")
    wms_settings = models.JSONField(
        default=dict, blank=True, help_text="What the WMS kind asks for per cart."
    )

    webhook_key = models.CharField(
        max_length=64,
        unique=True,
        default=_new_webhook_key,
        editable=False,
        help_text="The secret part of this cart's webhook address.",
    )
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.ACTIVE)
    last_error = models.TextField(blank=True)
    health_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["merchant", "order_source"]

    def __str__(self) -> str:
        return f"{self.order_source} ({self.kind})"

    def interval_for(self, flow: str) -> int:
        """Return the configured interval of one of this cart's flows."""
        return {
            Flow.DOWNLOAD: self.download_interval,
            Flow.SHIPMENT_UPLOAD: self.shipment_upload_interval,
            Flow.INVENTORY_UPLOAD: self.inventory_upload_interval,
        }[Flow(flow)]
