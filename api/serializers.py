"""What the API reads and writes. Input serializers turn requests into the adapter dataclasses
the sync services already take; output serializers never include secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from api.models import WebhookDelivery, WebhookEndpoint
from cartrover.adapters import (
    Address,
    CartOrder,
    CartOrderLine,
    ShipmentItem,
    StockLevel,
    WmsShipment,
    missing_required,
)
from carts.adapters import CART_KINDS
from carts.models import CartConnection
from merchants.models import Merchant
from orders.models import (
    InventoryLevel,
    Order,
    OrderEvent,
    OrderLine,
    Shipment,
    ShipmentLine,
    ShipMethodMapping,
)
from sync.models import Alert, JobRun
from wms.models import WmsShipMethod

MAX_BATCH = 500
# Ids are 64-bit: a larger number names nothing (and must not reach the database driver).
MAX_ID = 2**63 - 1


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """Return an integer field for a row id."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- Orders, as the API shows them -----------------------------------------------------------


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    company = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    address1 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    address2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    state = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    country = serializers.CharField(max_length=2, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")


class OrderLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(help_text="The SKU as the cart sent it.")
    wms_sku = serializers.CharField(help_text="The SKU the WMS knows (after aliases).")

    class Meta:
        model = OrderLine
        fields = ["id", "line_id", "sku", "wms_sku", "name", "quantity", "price"]


class WmsShipMethodSerializer(serializers.ModelSerializer):
    class Meta:
        model = WmsShipMethod
        fields = ["id", "code", "description", "carrier"]


class ShipmentLineSerializer(serializers.ModelSerializer):
    order_line = serializers.IntegerField(source="order_line_id", allow_null=True)

    class Meta:
        model = ShipmentLine
        fields = ["sku", "quantity", "order_line"]


class ShipmentSerializer(serializers.ModelSerializer):
    order = serializers.IntegerField(source="order_id")
    lines = ShipmentLineSerializer(many=True)

    class Meta:
        model = Shipment
        fields = [
            "id",
            "order",
            "tracking_number",
            "carrier",
            "service",
            "shipped_at",
            "warehouse",
            "upload_state",
            "uploaded_at",
            "lines",
        ]


class OrderEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["id", "kind", "message", "data", "at"]


class OrderSerializer(serializers.ModelSerializer):
    """An order with what a WMS needs to ship it."""

    key = serializers.CharField(help_text="The hub's order key (H<id>), unique and stable.")
    merchant = serializers.IntegerField(source="merchant_id")
    cart = serializers.IntegerField(source="cart_id")
    ship_to = AddressSerializer()
    bill_to = AddressSerializer()
    ship_method_code = serializers.CharField(help_text="The ship method as the cart sent it.")
    ship_method = WmsShipMethodSerializer(
        allow_null=True, help_text="The WMS ship method it is mapped to (null: unmapped)."
    )
    hold_reasons = serializers.ListField(child=serializers.CharField())
    lines = OrderLineSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "key",
            "merchant",
            "cart",
            "external_id",
            "order_number",
            "order_source",
            "status",
            "hold_reasons",
            "placed_at",
            "customer_name",
            "customer_email",
            "ship_to",
            "bill_to",
            "ship_method_code",
            "ship_method",
            "currency",
            "total",
            "notes",
            "delivery_reference",
            "created_at",
            "updated_at",
            "lines",
        ]


class OrderDetailSerializer(OrderSerializer):
    """An order with its shipments and timeline."""

    shipments = ShipmentSerializer(many=True)
    events = OrderEventSerializer(many=True)
    last_error = serializers.CharField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "last_error", "shipments", "events"]


class ActionResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    result = serializers.ChoiceField(
        choices=["done", "unchanged", "not_allowed", "not_found"],
        help_text="done: changed now; unchanged: it already was so; not_allowed: its status "
        "does not allow it; not_found: no such order for this key.",
    )
    status = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ActionResultListSerializer(serializers.Serializer):
    results = ActionResultSerializer(many=True)


# --- Acknowledge ------------------------------------------------------------------------------


class AcknowledgeSerializer(serializers.Serializer):
    reference = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="The WMS's own reference of the order.",
    )


class AcknowledgeItemSerializer(AcknowledgeSerializer):
    id = id_field(help_text="The hub's order id.")


class AcknowledgeBatchSerializer(serializers.Serializer):
    orders = AcknowledgeItemSerializer(many=True, allow_empty=False, max_length=MAX_BATCH)


# --- Pushing orders into an API cart ---------------------------------------------------------


class PushLineSerializer(serializers.Serializer):
    line_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    sku = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    name = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    price = serializers.DecimalField(
        max_digits=14, decimal_places=4, required=False, allow_null=True, default=None
    )


class PushOrderSerializer(serializers.Serializer):
    """An order a merchant system pushes; `external_id` makes the push idempotent."""

    external_id = serializers.CharField(
        max_length=100, help_text="The order's id in your system: a repeat is a duplicate."
    )
    order_number = serializers.CharField(max_length=100)
    placed_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    canceled = serializers.BooleanField(required=False, default=False)
    customer_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    customer_email = serializers.EmailField(
        max_length=254, required=False, allow_blank=True, default=""
    )
    ship_to = AddressSerializer()
    bill_to = AddressSerializer(required=False, allow_null=True, default=None)
    ship_method_code = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
    total = serializers.DecimalField(
        max_digits=14, decimal_places=4, required=False, allow_null=True, default=None
    )
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    lines = PushLineSerializer(many=True, allow_empty=False, max_length=1000)

    def to_cart_order(self, raw: Any) -> CartOrder:
        """Return the validated order as the dataclass a download would yield."""
        data = self.validated_data
        now = timezone.now()
        return CartOrder(
            external_id=data["external_id"],
            order_number=data["order_number"],
            updated_at=now,
            placed_at=data["placed_at"] or now,
            canceled=data["canceled"],
            customer_name=data["customer_name"],
            customer_email=data["customer_email"],
            ship_to=Address(**data["ship_to"]),
            bill_to=Address(**data["bill_to"]) if data["bill_to"] else None,
            ship_method_code=data["ship_method_code"],
            currency=data["currency"],
            total=data["total"],
            notes=data["notes"],
            lines=[CartOrderLine(**line) for line in data["lines"]],
            raw=raw if isinstance(raw, dict) else {},
        )


class PushBatchSerializer(serializers.Serializer):
    orders = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=MAX_BATCH
    )


class PushResultSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["created", "duplicate", "updated", "skipped_too_old", "error"]
    )
    id = serializers.IntegerField(allow_null=True, help_text="The hub's order id.")
    order_status = serializers.CharField(allow_null=True)
    message = serializers.CharField(
        allow_blank=True, help_text="Why the order was not stored, when `status` is `error`."
    )


class PushResultListSerializer(serializers.Serializer):
    results = PushResultSerializer(many=True)


# --- Shipments and inventory from the WMS -----------------------------------------------------


class ShipmentItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    line_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ShipmentInSerializer(serializers.Serializer):
    """A package the WMS shipped, naming its order by hub id (or key H<id>) or number."""

    order_id = serializers.CharField(
        max_length=30,
        required=False,
        allow_blank=True,
        default="",
        help_text="The hub's order id, or its key H<id>.",
    )
    order_number = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    merchant = id_field(
        required=False,
        allow_null=True,
        default=None,
        help_text="Needed with order_number for warehouse keys.",
    )
    tracking_number = serializers.CharField(max_length=200)
    carrier = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    service = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    shipped_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    warehouse = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    lines = ShipmentItemSerializer(many=True, required=False, default=list, max_length=1000)

    def validate_tracking_number(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A shipment needs a tracking number.")
        return value.strip()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["order_id"] and not attrs["order_number"]:
            raise serializers.ValidationError(
                {"order_id": "Name the order by order_id (hub id or H<id>) or order_number."}
            )
        return attrs

    def to_wms_shipment(self) -> WmsShipment:
        data = self.validated_data
        order_id = data["order_id"].strip()
        key = order_id if order_id.startswith("H") else (f"H{order_id}" if order_id else "")
        return WmsShipment(
            order_key=key,
            order_number=data["order_number"],
            tracking_number=data["tracking_number"],
            carrier=data["carrier"],
            service=data["service"],
            shipped_at=data["shipped_at"] or datetime.now(UTC),
            warehouse=data["warehouse"],
            items=[ShipmentItem(**item) for item in data["lines"]],
        )


class ShipmentBatchSerializer(serializers.Serializer):
    shipments = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=MAX_BATCH
    )


class ShipmentResultSerializer(serializers.Serializer):
    tracking_number = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "duplicate"])
    order = serializers.IntegerField()
    order_status = serializers.CharField()


class ShipmentResultListSerializer(serializers.Serializer):
    results = ShipmentResultSerializer(many=True)


class StockLevelSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=-1_000_000_000, max_value=1_000_000_000)
    warehouse = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def validate_sku(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A stock level needs a SKU.")
        return value.strip()


class InventoryInSerializer(serializers.Serializer):
    merchant = id_field(
        required=False,
        allow_null=True,
        default=None,
        help_text="The merchant (required for warehouse keys).",
    )
    levels = StockLevelSerializer(many=True, allow_empty=False, max_length=50_000)

    def stock_levels(self) -> list[StockLevel]:
        return [StockLevel(**level) for level in self.validated_data["levels"]]


class InventoryResultSerializer(serializers.Serializer):
    merchant = serializers.IntegerField()
    stored = serializers.IntegerField()


class InventoryLevelSerializer(serializers.ModelSerializer):
    merchant = serializers.IntegerField(source="merchant_id")

    class Meta:
        model = InventoryLevel
        fields = ["merchant", "sku", "warehouse", "quantity", "as_of"]


# --- Merchants and carts ----------------------------------------------------------------------


class MerchantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Merchant
        fields = [
            "id",
            "name",
            "active",
            "delivery_interval",
            "deliver_on_download",
            "ship_confirm_interval",
            "inventory_interval",
            "wms_settings",
            "alert_emails",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_name(self, value: str) -> str:
        account = self.context["account"]
        others = Merchant.objects.filter(account=account, name__iexact=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A merchant of this account has this name.")
        return value


class CartSerializer(serializers.ModelSerializer):
    """A cart connection; credentials are write-only and never shown."""

    merchant = id_field(source="merchant_id")
    kind = serializers.CharField(
        max_length=50, help_text="A cart kind the hub knows (dummy, shopify, api, ...)."
    )
    credentials = serializers.DictField(
        write_only=True, required=False, help_text="Write-only: the kind's credential fields."
    )
    credentials_set = serializers.SerializerMethodField(
        help_text="Names of the credential fields that have a value."
    )

    class Meta:
        model = CartConnection
        fields = [
            "id",
            "merchant",
            "kind",
            "order_source",
            "description",
            "credentials",
            "credentials_set",
            "setup",
            "active",
            "download_interval",
            "shipment_upload_interval",
            "inventory_upload_interval",
            "reject_unmapped_ship_codes",
            "earliest_order_date",
            "inventory_alias_type",
            "inventory_min_level",
            "wms_settings",
            "health",
            "last_error",
            "created_at",
        ]
        read_only_fields = ["id", "health", "last_error", "created_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None and not isinstance(self.instance, list):
            self.fields["merchant"].read_only = True
            self.fields["kind"].read_only = True

    def get_credentials_set(self, cart: CartConnection) -> list[str]:
        return sorted(k for k, v in dict(cart.credentials or {}).items() if v not in ("", None))

    def validate_kind(self, value: str) -> str:
        kinds = CART_KINDS.kinds()
        if value not in kinds:
            raise serializers.ValidationError(
                f"Unknown cart kind {value!r}: choose one of {', '.join(sorted(kinds))}."
            )
        return value

    def validate_merchant(self, value: int) -> int:
        merchants = self.context["merchants"]
        if not merchants.filter(pk=value).exists():
            raise serializers.ValidationError("No such merchant.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = str(attrs.get("kind") or getattr(self.instance, "kind", ""))
        adapter_class = CART_KINDS.adapter_class(kind)
        credentials = attrs.get("credentials")
        if credentials is not None or self.instance is None:
            merged = {**dict(getattr(self.instance, "credentials", None) or {})}
            merged.update(credentials or {})
            known = {f.name for f in adapter_class.credential_fields}
            unknown = sorted(set(credentials or {}) - known)
            if unknown:
                raise serializers.ValidationError(
                    {"credentials": f"{kind} has no credential fields {', '.join(unknown)}."}
                )
            missing = missing_required(adapter_class.credential_fields, merged)
            if missing:
                raise serializers.ValidationError(
                    {"credentials": f"{kind} needs {', '.join(missing)}."}
                )
            attrs["credentials"] = merged
        return attrs


class RunNowSerializer(serializers.Serializer):
    flow = serializers.CharField(max_length=30)


class RunNowResultSerializer(serializers.Serializer):
    schedule = serializers.IntegerField()
    flow = serializers.CharField()
    next_run_at = serializers.DateTimeField()


# --- Mappings, runs, alerts -------------------------------------------------------------------


class ShipMethodMappingSerializer(serializers.ModelSerializer):
    merchant = serializers.IntegerField(source="merchant_id")
    ship_method = WmsShipMethodSerializer()

    class Meta:
        model = ShipMethodMapping
        fields = ["id", "merchant", "cart_code", "ship_method"]


class ShipMethodMappingInSerializer(serializers.Serializer):
    merchant = id_field(
        required=False, allow_null=True, default=None, help_text="Required for warehouse keys."
    )
    cart_code = serializers.CharField(max_length=200)
    ship_method = serializers.CharField(
        max_length=100, help_text="The WMS ship method's code (or its id)."
    )


class ShipMethodMappingResultSerializer(serializers.Serializer):
    mapping = ShipMethodMappingSerializer()
    released = serializers.IntegerField(help_text="Orders released from their hold.")


class JobRunSerializer(serializers.ModelSerializer):
    merchant = serializers.IntegerField(source="merchant_id")
    cart = serializers.IntegerField(source="cart_id", allow_null=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "merchant",
            "cart",
            "flow",
            "trigger",
            "started_at",
            "finished_at",
            "outcome",
            "counts",
            "error",
            "log",
        ]


class AlertSerializer(serializers.ModelSerializer):
    merchant = serializers.IntegerField(source="merchant_id", allow_null=True)
    cart = serializers.IntegerField(source="cart_id", allow_null=True)

    class Meta:
        model = Alert
        fields = ["id", "merchant", "cart", "kind", "message", "opened_at", "resolved_at"]


# --- Outbound webhooks ------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    merchant = id_field(
        source="merchant_id",
        required=False,
        allow_null=True,
        default=None,
        help_text="Required for warehouse keys.",
    )
    events = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "merchant", "url", "events", "active", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_events(self, value: list[str]) -> list[str]:
        from api.outbound import EVENTS

        unknown = sorted(set(value) - set(EVENTS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown events {', '.join(unknown)}; choose from {', '.join(EVENTS)}."
            )
        return sorted(set(value))


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="Signs every delivery; shown only now.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.IntegerField(source="endpoint_id")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "payload",
            "attempts",
            "attempt_log",
            "next_attempt_at",
            "last_status",
            "last_response",
            "delivered_at",
            "created_at",
        ]


class ErrorDetailSerializer(serializers.Serializer):
    """`fields` maps each invalid field to its messages (a name `fields` cannot be declared)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "fields": serializers.DictField(),
        }


class ErrorSerializer(serializers.Serializer):
    """The one shape of every API error."""

    error = ErrorDetailSerializer()
    request_id = serializers.CharField()
