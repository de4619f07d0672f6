"""REST API v1 views: thin, each scoped by the request's key and calling one service.

Every object is loaded through `scoped_get_or_404`, so another tenant's object answers the
same 404 as a missing one; what a key level may not do at all answers 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api import serializers as s
from api.authentication import ApiKeyAuthentication, key_of
from api.errors import Conflict, PayloadTooLarge
from api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from api.pagination import ApiCursorPagination, OldestFirstPagination
from api.permissions import (
    ALL_LEVELS,
    MERCHANT_UP,
    WAREHOUSE_ONLY,
    KeyLevelPermission,
    scoped,
    scoped_get_or_404,
)
from api.services import orders_push
from api.throttling import ApiKeyRateThrottle
from carts.models import CartConnection
from merchants.models import Merchant
from merchants.services import merchant_create
from orders import services as order_services
from orders.models import HoldReason, InventoryLevel, Order, OrderStatus, ShipMethodMapping
from orders.selectors import STATUS_GROUPS
from sync.flows import CART_FLOWS, MERCHANT_FLOWS
from sync.flows.inventory import inventory_record
from sync.flows.shipments import order_for_shipment, shipment_record
from sync.models import Alert, JobRun, Schedule, Trigger
from sync.scheduler import schedule_run_now
from wms.models import WmsShipMethod

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Invalid fields."),
    401: OpenApiResponse(s.ErrorSerializer, description="Missing, wrong or revoked key."),
    403: OpenApiResponse(s.ErrorSerializer, description="The key's level does not allow it."),
    404: OpenApiResponse(s.ErrorSerializer, description="No such object for this key."),
    409: OpenApiResponse(s.ErrorSerializer, description="Not possible in the object's state."),
    413: OpenApiResponse(s.ErrorSerializer, description="Request body too large."),
    429: OpenApiResponse(s.ErrorSerializer, description="Throttled: see Retry-After."),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in (401, 403, 413, 429, *codes)}


def _invalid(fields: dict[str, Any]) -> serializers.ValidationError:
    return serializers.ValidationError(fields)


class ApiView(GenericAPIView):
    """The base of every API view: key authentication, level permission, throttle, size limit."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated, KeyLevelPermission]
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = ApiCursorPagination
    # No OPTIONS self-description: the OpenAPI schema is the description.
    metadata_class = None
    read_levels: frozenset[str] = ALL_LEVELS
    write_levels: frozenset[str] = WAREHOUSE_ONLY

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if int(kwargs.get("pk", 1)) > s.MAX_ID:
            raise NotFound("No such object.")
        if length > settings.API_MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"The request body has {length} bytes; the API takes at most "
                f"{settings.API_MAX_BODY_BYTES}: send smaller batches."
            )
        super().initial(request, *args, **kwargs)

    @property
    def key(self) -> ApiKey:
        return key_of(self.request)

    def int_param(self, name: str) -> int | None:
        value = self.request.query_params.get(name, "")
        if not value:
            return None
        if not value.isdigit() or int(value) > s.MAX_ID:
            raise _invalid({name: [f"{value!r} is not an id."]})
        return int(value)

    def merchant_for_write(self, merchant_id: int | None) -> Merchant:
        """Return the merchant a write is for: the key's own, or the named one (warehouse)."""
        key = self.key
        if key.merchant_id is not None:
            if merchant_id not in (None, key.merchant_id):
                raise _invalid({"merchant": ["This key is for another merchant."]})
            merchant = key.merchant
            assert merchant is not None
            return merchant
        if merchant_id is None:
            raise _invalid({"merchant": ["A warehouse key must name the merchant."]})
        merchant = scoped(key, Merchant).filter(pk=merchant_id).first()
        if merchant is None:
            raise _invalid({"merchant": ["No such merchant."]})
        return merchant

    def paginated(self, queryset: QuerySet[Any], serializer_class: type) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


def _batch(request: Request, name: str) -> tuple[list[Any], bool]:
    """Return (items, is_batch): a body {name: [...]} is a batch, any other object one item."""
    data = request.data
    if isinstance(data, dict) and name in data:
        batch = s.ShipmentBatchSerializer if name == "shipments" else s.PushBatchSerializer
        checked = batch(data=data)
        checked.is_valid(raise_exception=True)
        return list(checked.validated_data[name]), True
    if not isinstance(data, dict):
        raise _invalid({"non_field_errors": ["Send a JSON object."]})
    return [data], False


def _validate_all(items: list[Any], serializer_class: type, name: str, is_batch: bool) -> list[Any]:
    """Validate every item first: one invalid item stores nothing and names its index."""
    checked, problems = [], {}
    for index, item in enumerate(items):
        one = serializer_class(data=item)
        if one.is_valid():
            checked.append(one)
        else:
            problems[str(index)] = one.errors
    if problems:
        raise _invalid({name: problems} if is_batch else problems["0"])
    return checked


# --- Orders ---------------------------------------------------------------------------------

ORDER_FILTERS = [
    OpenApiParameter(
        "status",
        str,
        description="new, held, sending, at_wms, shipped, confirmed, error, canceled; or a "
        "group: open (new, sending, at_wms), done (shipped, confirmed), attention (held, error).",
    ),
    OpenApiParameter("merchant", int),
    OpenApiParameter("cart", int),
    OpenApiParameter(
        "updated_since", OpenApiTypes.DATETIME, description="Changed at or after (ISO 8601)."
    ),
    OpenApiParameter("limit", int, description="Page size."),
]


class OrderListView(ApiView):
    """List the key's orders, oldest first; a WMS pulls `status=new` and acknowledges them."""

    pagination_class = OldestFirstPagination

    @extend_schema(
        operation_id="orders_list",
        parameters=ORDER_FILTERS,
        responses={200: s.OrderSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        qs = scoped(self.key, Order).select_related("ship_method").prefetch_related("lines")
        wanted = request.query_params.get("status", "")
        if wanted in STATUS_GROUPS:
            qs = qs.filter(status__in=STATUS_GROUPS[wanted])
        elif wanted in OrderStatus.values:
            qs = qs.filter(status=wanted)
        elif wanted:
            raise _invalid({"status": [f"{wanted!r} is not a status or status group."]})
        if (merchant := self.int_param("merchant")) is not None:
            qs = qs.filter(merchant_id=merchant)
        if (cart := self.int_param("cart")) is not None:
            qs = qs.filter(cart_id=cart)
        if since_text := request.query_params.get("updated_since", ""):
            since = _datetime(since_text)
            if since is None:
                raise _invalid({"updated_since": ["Give an ISO 8601 date and time."]})
            qs = qs.filter(updated_at__gte=since)
        return self.paginated(qs, s.OrderSerializer)


def _datetime(text: str) -> datetime | None:
    try:
        value = parse_datetime(text.replace(" ", "+"))
    except ValueError:
        return None
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


class OrderDetailView(ApiView):
    """One order with its lines, ship-to, ship method as sent and mapped, shipments, timeline."""

    @extend_schema(
        operation_id="orders_retrieve", responses={200: s.OrderDetailSerializer, **errors(404)}
    )
    def get(self, request: Request, pk: int) -> Response:
        qs = Order.objects.select_related("ship_method").prefetch_related(
            "lines", "events", "shipments__lines"
        )
        order = scoped_get_or_404(self.key, qs, pk=pk)
        return Response(s.OrderDetailSerializer(order).data)


def _result(order: Order | None, pk: int, result: str, message: str) -> dict[str, Any]:
    return {
        "id": pk,
        "result": result,
        "status": order.status if order is not None else None,
        "message": message,
    }


def _acknowledge(order: Order, reference: str) -> dict[str, Any]:
    if order_services.order_mark_delivered(order, reference=reference):
        return _result(order, order.pk, "done", f"Order {order} is at the WMS.")
    order.refresh_from_db()
    if order.status == OrderStatus.AT_WMS and order.delivery_reference == reference:
        return _result(order, order.pk, "unchanged", f"Order {order} was already acknowledged.")
    return _result(
        order,
        order.pk,
        "not_allowed",
        f"Order {order} is {order.get_status_display().lower()}: only new orders can be "
        "acknowledged (held orders are not for the WMS yet).",
    )


def _single(result: dict[str, Any]) -> Response:
    if result["result"] == "not_allowed":
        raise Conflict(result["message"])
    return Response(result)


class OrderAcknowledgeView(ApiView):
    """Acknowledge one order: the WMS took it (under its own reference); it moves to at_wms."""

    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="orders_acknowledge",
        request=s.AcknowledgeSerializer,
        responses={200: s.ActionResultSerializer, **errors(400, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        order = scoped_get_or_404(self.key, Order, pk=pk)
        data = s.AcknowledgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _single(_acknowledge(order, data.validated_data["reference"]))


class OrdersAcknowledgeView(ApiView):
    """Acknowledge many orders at once; one result per order."""

    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="orders_acknowledge_batch",
        request=s.AcknowledgeBatchSerializer,
        examples=[
            OpenApiExample(
                "WMS took two orders",
                value={
                    "orders": [{"id": 17, "reference": "W-88"}, {"id": 18, "reference": "W-89"}]
                },
                request_only=True,
            )
        ],
        responses={200: s.ActionResultListSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = s.AcknowledgeBatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        items = data.validated_data["orders"]
        orders = scoped(self.key, Order).in_bulk([i["id"] for i in items])
        results = []
        for item in items:
            order = orders.get(item["id"])
            if order is None:
                results.append(_result(None, item["id"], "not_found", "No such order."))
            else:
                results.append(_acknowledge(order, item["reference"]))
        return Response({"results": results})


class OrderCancelView(ApiView):
    """Cancel sending: hold a new order so it is not delivered (release it in the hub)."""

    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="orders_cancel",
        request=None,
        responses={200: s.ActionResultSerializer, **errors(404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        order = scoped_get_or_404(self.key, Order, pk=pk)
        if order.status == OrderStatus.HELD and HoldReason.CANCEL_SENDING in order.hold_reasons:
            return Response(_result(order, order.pk, "unchanged", "Sending already canceled."))
        if order_services.order_cancel_sending(order):
            return Response(_result(order, order.pk, "done", f"Sending of {order} canceled."))
        return _single(
            _result(
                order,
                order.pk,
                "not_allowed",
                f"Order {order} is {order.get_status_display().lower()}: only new or held "
                "orders can be stopped from sending.",
            )
        )


class OrderResendView(ApiView):
    """Send an order to the WMS again (after an error, or once more after delivery)."""

    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="orders_resend",
        request=None,
        responses={200: s.ActionResultSerializer, **errors(404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        order = scoped_get_or_404(self.key, Order, pk=pk)
        if order_services.order_resend(order):
            return Response(_result(order, order.pk, "done", f"Order {order} queued again."))
        return _single(
            _result(
                order,
                order.pk,
                "not_allowed",
                f"Order {order} is {order.get_status_display().lower()}: only orders in "
                "error or at the WMS can be sent again.",
            )
        )


class CartOrdersPushView(ApiView):
    """Push one order (an object) or a batch ({"orders": [...]}) into an API cart."""

    write_levels = ALL_LEVELS

    @extend_schema(
        operation_id="carts_orders_push",
        request=s.PushOrderSerializer,
        examples=[
            OpenApiExample(
                "One order",
                value={
                    "external_id": "5001",
                    "order_number": "#5001",
                    "customer_email": "ana@example.com",
                    "ship_to": {
                        "name": "Ana Ruiz",
                        "address1": "1 Harbor Road",
                        "city": "Dayton",
                        "state": "OH",
                        "postal_code": "45402",
                        "country": "US",
                    },
                    "ship_method_code": "GROUND",
                    "lines": [{"line_id": "1", "sku": "SKU-1", "quantity": 2, "price": "9.95"}],
                },
                request_only=True,
            )
        ],
        responses={
            200: s.PushResultListSerializer,
            201: s.PushResultListSerializer,
            **errors(400, 404, 409),
        },
        description="Idempotent by `external_id`: a repeat is reported as `duplicate` and "
        'stored once. A batch is {"orders": [order, ...]}; one invalid order stores none, '
        "and `error.fields.orders.<index>` says what is wrong. An order another writer stored "
        "at the same moment is reported on its own (`updated`, or `error` with a `message`); "
        "the rest of the batch is stored.",
    )
    def post(self, request: Request, pk: int) -> Response:
        cart = scoped_get_or_404(self.key, CartConnection.objects.select_related("merchant"), pk=pk)
        if cart.kind != "api":
            raise Conflict(
                f"Cart {cart} is a {cart.kind} cart: its orders arrive by download. Push "
                "orders into a cart of kind api."
            )
        items, is_batch = _batch(request, "orders")
        checked = _validate_all(items, s.PushOrderSerializer, "orders", is_batch)
        results = orders_push(
            cart, [c.to_cart_order(raw) for c, raw in zip(checked, items, strict=True)]
        )
        body = {
            "results": [
                {
                    "external_id": r.external_id,
                    "status": r.status,
                    "id": r.order.pk if r.order else None,
                    "order_status": r.order.status if r.order else None,
                    "message": r.message,
                }
                for r in results
            ]
        }
        created = any(r.status == "created" for r in results)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- Shipments and inventory ----------------------------------------------------------------


class ShipmentsView(ApiView):
    """Post packages the WMS shipped: one (an object) or many ({"shipments": [...]})."""

    read_levels = MERCHANT_UP
    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="shipments_create",
        request=s.ShipmentInSerializer,
        examples=[
            OpenApiExample(
                "One package of part of an order",
                value={
                    "order_id": "H17",
                    "tracking_number": "1Z999AA10123456784",
                    "carrier": "UPS",
                    "service": "Ground",
                    "lines": [{"sku": "SKU-1", "quantity": 2}],
                },
                request_only=True,
            ),
            OpenApiExample(
                "A batch, one order named by number",
                value={
                    "shipments": [
                        {"order_id": "18", "tracking_number": "9400111899223197428490"},
                        {
                            "order_number": "#1003",
                            "merchant": 3,
                            "tracking_number": "1Z999AA10123456785",
                        },
                    ]
                },
                request_only=True,
            ),
        ],
        responses={
            200: s.ShipmentResultListSerializer,
            201: s.ShipmentResultListSerializer,
            **errors(400),
        },
        description="Idempotent by (order, tracking number): a repeat is reported as "
        "`duplicate`. Every shipment of a batch is checked first; one that names no order "
        "of this key stores none.",
    )
    def post(self, request: Request) -> Response:
        items, is_batch = _batch(request, "shipments")
        checked = _validate_all(items, s.ShipmentInSerializer, "shipments", is_batch)
        resolved, problems = [], {}
        for index, one in enumerate(checked):
            order = self._order(one.validated_data)
            if isinstance(order, str):
                problems[str(index)] = {"order_id": [order]}
            else:
                resolved.append((order, one.to_wms_shipment()))
        if problems:
            raise _invalid({"shipments": problems} if is_batch else problems["0"])
        results = []
        with transaction.atomic():
            for order, shipment in resolved:
                created = shipment_record(order, shipment)
                order.refresh_from_db(fields=["status"])
                results.append(
                    {
                        "tracking_number": shipment.tracking_number,
                        "status": "created" if created else "duplicate",
                        "order": order.pk,
                        "order_status": order.status,
                    }
                )
        code = status.HTTP_201_CREATED if any(r["status"] == "created" for r in results) else 200
        return Response({"results": results}, status=code)

    def _order(self, data: dict[str, Any]) -> Order | str:
        orders = scoped(self.key, Order).select_related("cart")
        order_id = data["order_id"].strip()
        if order_id:
            digits = order_id[1:] if order_id.startswith("H") else order_id
            valid = digits.isdigit() and 0 < int(digits) <= s.MAX_ID
            order = orders.filter(pk=int(digits)).first() if valid else None
            return order if order is not None else f"No order {order_id} for this key."
        try:
            merchant = self.merchant_for_write(data["merchant"])
        except serializers.ValidationError:
            return "With order_number, a warehouse key must also name the merchant."
        order = order_for_shipment(merchant, "", data["order_number"])
        if order is None:
            return f"No single order {data['order_number']} of {merchant}."
        return order


class InventoryView(ApiView):
    """Read stock per SKU and warehouse, or post the WMS's stock (bulk upsert)."""

    read_levels = MERCHANT_UP
    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="inventory_list",
        parameters=[OpenApiParameter("merchant", int), OpenApiParameter("sku", str)],
        responses={200: s.InventoryLevelSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        qs = scoped(self.key, InventoryLevel)
        if (merchant := self.int_param("merchant")) is not None:
            qs = qs.filter(merchant_id=merchant)
        if sku := request.query_params.get("sku", ""):
            qs = qs.filter(sku=sku)
        return self.paginated(qs, s.InventoryLevelSerializer)

    @extend_schema(
        operation_id="inventory_create",
        request=s.InventoryInSerializer,
        examples=[
            OpenApiExample(
                "Stock of two SKUs",
                value={
                    "merchant": 3,
                    "levels": [
                        {"sku": "SKU-1", "quantity": 40, "warehouse": "MAIN"},
                        {"sku": "SKU-2", "quantity": 0, "warehouse": "MAIN"},
                    ],
                },
                request_only=True,
            )
        ],
        responses={200: s.InventoryResultSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = s.InventoryInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = self.merchant_for_write(data.validated_data["merchant"])
        stored, _ = inventory_record(merchant, data.stock_levels(), now=timezone.now())
        return Response({"merchant": merchant.pk, "stored": stored})


# --- Merchants and carts --------------------------------------------------------------------


class MerchantListView(ApiView):
    """List the key's merchants; warehouse keys create merchants."""

    @extend_schema(
        operation_id="merchants_list",
        responses={200: s.MerchantSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        return self.paginated(scoped(self.key, Merchant), s.MerchantSerializer)

    @extend_schema(
        operation_id="merchants_create",
        request=s.MerchantSerializer,
        responses={201: s.MerchantSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        account = self.key.account
        data = s.MerchantSerializer(data=request.data, context={"account": account})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            with transaction.atomic():
                merchant = merchant_create(
                    account=account, name=fields.pop("name"), active=fields.pop("active", True)
                )
                if fields:
                    for name, value in fields.items():
                        setattr(merchant, name, value)
                    merchant.save()
        except DjangoValidationError as exc:
            raise _invalid({"non_field_errors": exc.messages}) from None
        return Response(s.MerchantSerializer(merchant).data, status=status.HTTP_201_CREATED)


class MerchantDetailView(ApiView):
    """One merchant; warehouse keys change its settings and turn its flows on and off."""

    http_method_names = ["get", "patch", "options"]

    @extend_schema(
        operation_id="merchants_retrieve", responses={200: s.MerchantSerializer, **errors(404)}
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.MerchantSerializer(scoped_get_or_404(self.key, Merchant, pk=pk)).data)

    @extend_schema(
        operation_id="merchants_update",
        request=s.MerchantSerializer,
        responses={200: s.MerchantSerializer, **errors(400, 404)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        merchant = scoped_get_or_404(self.key, Merchant, pk=pk)
        data = s.MerchantSerializer(
            merchant, data=request.data, partial=True, context={"account": self.key.account}
        )
        data.is_valid(raise_exception=True)
        data.save()
        return Response(data.data)


class CartListView(ApiView):
    """List the key's carts; warehouse keys connect new carts (credentials write-only)."""

    @extend_schema(
        operation_id="carts_list",
        parameters=[OpenApiParameter("merchant", int)],
        responses={200: s.CartSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        qs = scoped(self.key, CartConnection)
        if (merchant := self.int_param("merchant")) is not None:
            qs = qs.filter(merchant_id=merchant)
        return self.paginated(qs, s.CartSerializer)

    @extend_schema(
        operation_id="carts_create",
        request=s.CartSerializer,
        responses={201: s.CartSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = s.CartSerializer(
            data=request.data, context={"merchants": scoped(self.key, Merchant)}
        )
        data.is_valid(raise_exception=True)
        cart = data.save(account_id=self.key.account_id)
        return Response(s.CartSerializer(cart).data, status=status.HTTP_201_CREATED)


class CartDetailView(ApiView):
    """One cart; warehouse keys change credentials, settings and intervals (0 turns a flow off)."""

    http_method_names = ["get", "patch", "options"]

    @extend_schema(operation_id="carts_retrieve", responses={200: s.CartSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.CartSerializer(scoped_get_or_404(self.key, CartConnection, pk=pk)).data)

    @extend_schema(
        operation_id="carts_update",
        request=s.CartSerializer,
        responses={200: s.CartSerializer, **errors(400, 404)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        cart = scoped_get_or_404(self.key, CartConnection, pk=pk)
        data = s.CartSerializer(
            cart,
            data=request.data,
            partial=True,
            context={"merchants": scoped(self.key, Merchant)},
        )
        data.is_valid(raise_exception=True)
        data.save()
        return Response(data.data)


def _run_now(schedule: Schedule | None, flow: str) -> Response:
    if schedule is None:
        raise _invalid({"flow": [f"{flow!r} is not a flow of this target."]})
    if not schedule.enabled:
        raise Conflict(
            f"{schedule} is off (interval 0, inactive, paused after refused credentials, or "
            "not supported by the kind): turn it on first."
        )
    schedule_run_now(schedule, trigger=Trigger.MANUAL)
    schedule.refresh_from_db()
    return Response(
        {"schedule": schedule.pk, "flow": schedule.flow, "next_run_at": schedule.next_run_at}
    )


class CartRunNowView(ApiView):
    """Run one of a cart's flows now (download, shipment_upload, inventory_upload)."""

    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="carts_run_now",
        request=s.RunNowSerializer,
        responses={200: s.RunNowResultSerializer, **errors(400, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        cart = scoped_get_or_404(self.key, CartConnection, pk=pk)
        data = s.RunNowSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flow = data.validated_data["flow"]
        schedule = None
        if flow in CART_FLOWS:
            schedule = Schedule.objects.filter(cart=cart, flow=flow).first()
        return _run_now(schedule, flow)


class MerchantRunNowView(ApiView):
    """Run one of a merchant's WMS flows now (delivery, ship_confirm, inventory)."""

    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="merchants_run_now",
        request=s.RunNowSerializer,
        responses={200: s.RunNowResultSerializer, **errors(400, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        merchant = scoped_get_or_404(self.key, Merchant, pk=pk)
        data = s.RunNowSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flow = data.validated_data["flow"]
        schedule = None
        if flow in MERCHANT_FLOWS:
            schedule = Schedule.objects.filter(merchant=merchant, cart=None, flow=flow).first()
        return _run_now(schedule, flow)


# --- Mappings, runs, alerts -----------------------------------------------------------------


class ShipMethodMappingListView(ApiView):
    """Map cart ship codes to WMS ship methods; mapping a code releases the orders it held."""

    read_levels = MERCHANT_UP
    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="ship_method_mappings_list",
        parameters=[OpenApiParameter("merchant", int)],
        responses={200: s.ShipMethodMappingSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        qs = scoped(self.key, ShipMethodMapping).select_related("ship_method")
        if (merchant := self.int_param("merchant")) is not None:
            qs = qs.filter(merchant_id=merchant)
        return self.paginated(qs, s.ShipMethodMappingSerializer)

    @extend_schema(
        operation_id="ship_method_mappings_create",
        request=s.ShipMethodMappingInSerializer,
        responses={200: s.ShipMethodMappingResultSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = s.ShipMethodMappingInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = self.merchant_for_write(data.validated_data["merchant"])
        wanted = data.validated_data["ship_method"]
        methods = scoped(self.key, WmsShipMethod)
        method = methods.filter(code=wanted).first()
        if method is None and wanted.isdigit():
            method = methods.filter(pk=int(wanted)).first()
        if method is None:
            raise _invalid({"ship_method": [f"The WMS has no ship method {wanted!r}."]})
        cart_code = data.validated_data["cart_code"]
        released = order_services.ship_method_map(
            merchant=merchant, cart_code=cart_code, ship_method=method
        )
        mapping = ShipMethodMapping.objects.select_related("ship_method").get(
            merchant=merchant, cart_code=cart_code
        )
        return Response(
            {"mapping": s.ShipMethodMappingSerializer(mapping).data, "released": released}
        )


class JobRunListView(ApiView):
    """Runs of the flows, newest first, with their counts and log lines."""

    read_levels = MERCHANT_UP

    @extend_schema(
        operation_id="job_runs_list",
        parameters=[
            OpenApiParameter("merchant", int),
            OpenApiParameter("cart", int),
            OpenApiParameter("flow", str),
        ],
        responses={200: s.JobRunSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        qs = scoped(self.key, JobRun)
        if (merchant := self.int_param("merchant")) is not None:
            qs = qs.filter(merchant_id=merchant)
        if (cart := self.int_param("cart")) is not None:
            qs = qs.filter(cart_id=cart)
        if flow := request.query_params.get("flow", ""):
            qs = qs.filter(flow=flow)
        return self.paginated(qs, s.JobRunSerializer)


class AlertListView(ApiView):
    """Alerts, newest first; `?open=true` for the ones still open."""

    read_levels = MERCHANT_UP

    @extend_schema(
        operation_id="alerts_list",
        parameters=[OpenApiParameter("open", bool)],
        responses={200: s.AlertSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        qs = scoped(self.key, Alert)
        if request.query_params.get("open", "").lower() in ("1", "true", "yes"):
            qs = qs.filter(resolved_at__isnull=True)
        return self.paginated(qs, s.AlertSerializer)


# --- Outbound webhooks ----------------------------------------------------------------------


class WebhookEndpointListView(ApiView):
    """A merchant's webhook endpoints; creating one returns its signing secret once."""

    read_levels = MERCHANT_UP
    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="webhooks_list",
        responses={200: s.WebhookEndpointSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        return self.paginated(scoped(self.key, WebhookEndpoint), s.WebhookEndpointSerializer)

    @extend_schema(
        operation_id="webhooks_create",
        request=s.WebhookEndpointSerializer,
        responses={201: s.WebhookEndpointCreatedSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        from api.outbound import webhook_endpoint_create

        data = s.WebhookEndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = self.merchant_for_write(data.validated_data.pop("merchant_id"))
        endpoint, secret = webhook_endpoint_create(merchant=merchant, **data.validated_data)
        body = {**s.WebhookEndpointSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(ApiView):
    """One endpoint: read, change (url, events, active) or delete it."""

    read_levels = MERCHANT_UP
    write_levels = MERCHANT_UP
    http_method_names = ["get", "patch", "delete", "options"]

    @extend_schema(
        operation_id="webhooks_retrieve",
        responses={200: s.WebhookEndpointSerializer, **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        endpoint = scoped_get_or_404(self.key, WebhookEndpoint, pk=pk)
        return Response(s.WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_update",
        request=s.WebhookEndpointSerializer,
        responses={200: s.WebhookEndpointSerializer, **errors(400, 404)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = scoped_get_or_404(self.key, WebhookEndpoint, pk=pk)
        data = s.WebhookEndpointSerializer(endpoint, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        data.validated_data.pop("merchant_id", None)
        data.save()
        return Response(data.data)

    @extend_schema(operation_id="webhooks_destroy", responses={204: None, **errors(404)})
    def delete(self, request: Request, pk: int) -> Response:
        scoped_get_or_404(self.key, WebhookEndpoint, pk=pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(ApiView):
    """Deliveries of one endpoint, newest first, with every attempt."""

    read_levels = MERCHANT_UP

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        responses={200: s.WebhookDeliverySerializer(many=True), **errors(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        endpoint = scoped_get_or_404(self.key, WebhookEndpoint, pk=pk)
        qs = scoped(self.key, WebhookDelivery).filter(endpoint=endpoint)
        return self.paginated(qs, s.WebhookDeliverySerializer)


class WebhookDeliveryReplayView(ApiView):
    """Send a delivery again now (after the receiver was fixed)."""

    write_levels = MERCHANT_UP

    @extend_schema(
        operation_id="webhook_deliveries_replay",
        request=None,
        responses={200: s.WebhookDeliverySerializer, **errors(404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        from api.outbound import webhook_delivery_replay

        delivery = scoped_get_or_404(
            self.key, WebhookDelivery.objects.select_related("endpoint"), pk=pk
        )
        webhook_delivery_replay(delivery)
        delivery.refresh_from_db()
        return Response(s.WebhookDeliverySerializer(delivery).data)
