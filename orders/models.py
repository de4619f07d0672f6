"""Orders and what happens to them: lines, timeline, shipments, mappings, stock."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from cartrover.tenancy import TenantQuerySet


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    HELD = "held", "Held"
    # Claimed by a delivery batch and on its way to the WMS: treated as at the WMS by every
    # change (cancel, hold, edit) until the WMS's answer moves it on.
    SENDING = "sending", "Sending"
    AT_WMS = "at_wms", "At WMS"
    SHIPPED = "shipped", "Shipped"
    CONFIRMED = "confirmed", "Confirmed"
    ERROR = "error", "Error"
    CANCELED = "canceled", "Canceled"


class HoldReason(models.TextChoices):
    UNMAPPED_SHIP_METHOD = "unmapped_ship_method", "Ship method not mapped"
    MANUAL = "manual", "Held by hand"
    CANCEL_SENDING = "cancel_sending", "Sending canceled"
    CANCELED_IN_CART = "canceled_in_cart", "Canceled in the cart after delivery"


class Order(models.Model):
    """An order downloaded from a cart, unique per (cart, external id)."""

    # No single-column indexes on account, merchant and cart: the composite indexes below
    # start with each of them, and every index slows the download's inserts.
    account = models.ForeignKey(
        "merchants.Account", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="orders", db_index=False
    )
    cart = models.ForeignKey(
        "carts.CartConnection", on_delete=models.CASCADE, related_name="orders", db_index=False
    )
    external_id = models.CharField(max_length=100)
    order_number = models.CharField(max_length=100, db_index=True)
    order_source = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    hold_reasons = models.JSONField(default=list, blank=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    cart_updated_at = models.DateTimeField(null=True, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    ship_to = models.JSONField(default=dict, blank=True)
    bill_to = models.JSONField(default=dict, blank=True)
    ship_method_code = models.CharField(
        max_length=200, blank=True, help_text="The ship method as the cart sent it."
    )
    ship_method = models.ForeignKey(
        "wms.WmsShipMethod",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The WMS ship method it is mapped to.",
    )
    currency = models.CharField(max_length=3, blank=True)
    total = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    notes = models.TextField(blank=True)
    raw_payload = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(max_length=64, blank=True)
    delivery_reference = models.CharField(max_length=200, blank=True)
    delivery_batch = models.ForeignKey(
        "sync.DeliveryBatch",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,
        help_text="The batch that last claimed the order for delivery.",
    )
    delivery_attempts = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint("cart", "external_id", name="order_cart_external_id_unique"),
        ]
        indexes = [
            # The order list pages newest first by keyset (created_at, id): within the
            # account, within one status of it, within one merchant (merchant users).
            models.Index(fields=["account", "-created_at", "-id"], name="order_account_recent"),
            models.Index(
                fields=["account", "status", "-created_at", "-id"], name="order_account_status"
            ),
            models.Index(fields=["merchant", "-created_at", "-id"], name="order_merchant_recent"),
            models.Index(
                fields=["merchant", "status", "next_attempt_at"], name="order_delivery_due"
            ),
            # The orders a delivery batch still has on their way; new orders stay out of it.
            models.Index(
                fields=["delivery_batch"],
                name="order_sending_batch",
                condition=models.Q(status="sending"),
            ),
            # Search by e-mail is case-insensitive (`iexact` compares UPPER() on PostgreSQL).
            models.Index(Upper("customer_email"), name="order_email_upper"),
        ]

    def __str__(self) -> str:
        return f"{self.order_source} {self.order_number}"

    @property
    def key(self) -> str:
        """Return the hub's order key: sent to the WMS so a retried delivery is recognized."""
        return f"H{self.pk}"


class OrderLine(models.Model):
    """One line of an order: the SKU as the cart sent it and as the WMS knows it."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_id = models.CharField(max_length=100, blank=True)
    sku = models.CharField(
        max_length=200, blank=True, db_index=True, help_text="As the cart sent it."
    )
    wms_sku = models.CharField(max_length=200, blank=True, db_index=True, help_text="For the WMS.")
    name = models.CharField(max_length=500, blank=True)
    quantity = models.IntegerField()
    price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "order__merchant"

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.wms_sku or self.sku}"


class EventKind(models.TextChoices):
    DOWNLOADED = "downloaded", "Downloaded"
    UPDATED = "updated", "Updated from the cart"
    HELD = "held", "Held"
    RELEASED = "released", "Released"
    DELIVERED = "delivered", "Delivered to the WMS"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    ERROR = "error", "Error"
    RESENT = "resent", "Sent again"
    SHIPMENT_RECEIVED = "shipment_received", "Shipment received"
    TRACKING_UPLOADED = "tracking_uploaded", "Tracking uploaded"
    TRACKING_FAILED = "tracking_failed", "Tracking upload failed"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELED = "canceled", "Canceled"


class OrderEvent(models.Model):
    """One entry of an order's timeline; every state change writes one."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "order__merchant"

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message}"


class UploadState(models.TextChoices):
    PENDING = "pending", "Waiting to upload"
    # Claimed by an upload run and on its way to the cart.
    UPLOADING = "uploading", "Uploading"
    UPLOADED = "uploaded", "Uploaded"
    FAILED = "failed", "Failed"
    NOT_APPLICABLE = "not_applicable", "Cart takes no tracking"


class Shipment(models.Model):
    """A package the WMS shipped for an order, unique per (order, tracking number)."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    tracking_number = models.CharField(max_length=200)
    carrier = models.CharField(max_length=100, blank=True)
    service = models.CharField(max_length=100, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    warehouse = models.CharField(max_length=100, blank=True)
    upload_state = models.CharField(
        max_length=20, choices=UploadState.choices, default=UploadState.PENDING
    )
    upload_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    upload_claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="While uploading: when the claim of the run expires."
    )
    uploaded_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint("order", "tracking_number", name="shipment_tracking_unique"),
        ]
        indexes = [
            models.Index(fields=["upload_state", "next_attempt_at"], name="shipment_upload_due"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}".strip()


class ShipmentLine(models.Model):
    """A quantity of one SKU in a shipment."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="shipment_lines"
    )
    sku = models.CharField(max_length=200)
    quantity = models.IntegerField()

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "shipment__merchant"

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class ShipMethodMapping(models.Model):
    """Map a cart's ship method code to a WMS ship method, per merchant."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="ship_method_mappings"
    )
    cart_code = models.CharField(max_length=200)
    ship_method = models.ForeignKey(
        "wms.WmsShipMethod", on_delete=models.CASCADE, related_name="mappings"
    )

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["merchant", "cart_code"]
        constraints = [
            models.UniqueConstraint("merchant", "cart_code", name="ship_mapping_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.cart_code} → {self.ship_method}"


class ProductAlias(models.Model):
    """Another name of a master SKU, e.g. a cart's own SKU or a UPC."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="product_aliases"
    )
    master_sku = models.CharField(max_length=200)
    alias_type = models.CharField(max_length=50, default="cart")
    alias = models.CharField(max_length=200)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["merchant", "master_sku"]
        constraints = [
            models.UniqueConstraint("merchant", "alias_type", "alias", name="product_alias_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.alias} ({self.alias_type}) → {self.master_sku}"


class InventoryLevel(models.Model):
    """Stock of one SKU in one warehouse, as the WMS last reported it."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="inventory_levels"
    )
    sku = models.CharField(max_length=200)
    warehouse = models.CharField(max_length=100, blank=True)
    quantity = models.IntegerField()
    as_of = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["merchant", "sku", "warehouse"]
        constraints = [
            models.UniqueConstraint("merchant", "sku", "warehouse", name="inventory_level_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sku}@{self.warehouse or '-'}: {self.quantity}"


class CartStock(models.Model):
    """The quantity of a SKU a cart was last told, so only changes are sent again."""

    account = models.ForeignKey("merchants.Account", on_delete=models.CASCADE, related_name="+")
    cart = models.ForeignKey(
        "carts.CartConnection", on_delete=models.CASCADE, related_name="stock_sent"
    )
    sku = models.CharField(max_length=200)
    quantity = models.IntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "cart__merchant"

    class Meta:
        ordering = ["cart", "sku"]
        constraints = [models.UniqueConstraint("cart", "sku", name="cart_stock_unique")]

    def __str__(self) -> str:
        return f"{self.sku}: {self.quantity}"
