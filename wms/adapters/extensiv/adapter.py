"""Extensiv 3PL Warehouse Manager (formerly 3PL Central): orders out, shipments and stock back.

Each merchant is an Extensiv customer (`customer_id`); orders go to a facility chosen by the
cart, else the merchant, else the account. The hub's order key travels as `referenceNum`, and
Extensiv's behaviour on a duplicate reference is undocumented, so every order is looked up by
reference before it is posted: a retried batch (after a timeout, a lost answer, a dead worker)
finds what the first attempt created instead of creating it twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from cartrover.adapters import (
    AdapterError,
    DeliveryResult,
    FieldSpec,
    MerchantRef,
    StockLevel,
    TransientError,
    WmsOrder,
    WmsShipment,
)
from wms.adapters.base import WmsAdapter
from wms.adapters.extensiv import mappers
from wms.adapters.extensiv.client import ExtensivClient, ExtensivError, dig, reason_of

DEFAULT_BASE_URL = "https://secure-wms.com"
ORDERS_PAGE_SIZE = 200
STOCK_PAGE_SIZE = 500
# Words of an Extensiv refusal that mean "this reference number is taken".
_DUPLICATE_WORDS = ("duplicate", "already exists", "already in use", "not unique")


class ExtensivAdapter(WmsAdapter):
    kind = "extensiv"
    label = "Extensiv 3PL Warehouse Manager"
    capabilities = frozenset({"orders", "shipments", "inventory", "cancellations"})
    credential_fields = [
        FieldSpec("client_id", "Client id", required=True, help="From the REST API access."),
        FieldSpec("client_secret", "Client secret", type="password", required=True, secret=True),
        FieldSpec(
            "user_login_id",
            "User login id",
            required=True,
            help="The numeric id of the warehouse user the hub acts as.",
        ),
        FieldSpec(
            "tpl", "TPL GUID", required=True, help="The warehouse's {GUID}, braces optional."
        ),
    ]
    settings_fields = [
        FieldSpec("base_url", "Base URL", type="url", default=DEFAULT_BASE_URL),
        FieldSpec(
            "facility_id",
            "Facility id",
            type="int",
            default=None,
            help="Where orders go unless the merchant or the cart names another facility.",
        ),
    ]
    merchant_fields = [
        FieldSpec(
            "customer_id",
            "Customer id",
            type="int",
            required=True,
            help="The merchant's customer id in Extensiv.",
        ),
        FieldSpec(
            "facility_id",
            "Facility id",
            type="int",
            default=None,
            help="Overrides the account's facility for this merchant's orders.",
        ),
    ]
    cart_fields = [
        FieldSpec(
            "facility_id",
            "Facility id",
            type="int",
            default=None,
            help="Overrides the merchant's facility for this cart's orders.",
        ),
    ]
    batch_size = 50

    _client: ExtensivClient | None = None

    @property
    def client(self) -> ExtensivClient:
        """Return the HTTP client of this connection (one per adapter, token cached in it)."""
        if self._client is None:
            self._client = ExtensivClient(
                base_url=str(self.settings.get("base_url") or DEFAULT_BASE_URL),
                client_id=str(self.credentials.get("client_id") or ""),
                client_secret=str(self.credentials.get("client_secret") or ""),
                user_login_id=str(self.credentials.get("user_login_id") or ""),
                tpl=str(self.credentials.get("tpl") or ""),
                connection_key=self.connection_key,
            )
        return self._client

    # -- connection --------------------------------------------------------------------------

    def test_connection(self) -> str:
        client = self.client
        client.token()
        body = client.get("orders", params={"pgsiz": 1, "pgnum": 1})
        total = dig(body, "totalResults")
        seen = f"; {total} order(s) visible" if total is not None else ""
        return f"Connected to Extensiv at {client.host} as user login {client.user_login_id}{seen}."

    def fetch_ship_methods(self) -> list[tuple[str, str, str]]:
        carriers = [
            carrier
            for page in self.client.pages("properties/carriers", {}, collection="resourceList")
            for carrier in page
        ]
        return mappers.ship_methods_of(carriers)

    # -- orders ------------------------------------------------------------------------------

    def deliver_orders(self, merchant: MerchantRef, orders: list[WmsOrder]) -> list[DeliveryResult]:
        customer_id = self._customer_id(merchant)

        def deliver(order: WmsOrder) -> DeliveryResult:
            facility_id = self._facility_id(merchant, order)
            if facility_id is None:
                return DeliveryResult(
                    order.key,
                    ok=False,
                    error="No Extensiv facility id for this order: set one on the WMS, "
                    f"on merchant {merchant.name} or on its cart.",
                )
            return self._deliver(order, customer_id, facility_id)

        return self.deliver_each(orders, deliver)

    def _deliver(self, order: WmsOrder, customer_id: int, facility_id: int) -> DeliveryResult:
        """Create one order unless Extensiv has it already; a batch-wide failure raises."""
        existing = self._find_order(order.key, customer_id)
        if existing:
            return DeliveryResult(order.key, ok=True, reference=existing)
        payload = mappers.order_payload(order, customer_id=customer_id, facility_id=facility_id)
        try:
            created = self.client.post("orders", payload)
        except TransientError:
            # The order may exist although the answer was lost (a timeout after commit).
            existing = self._find_order(order.key, customer_id)
            if existing:
                return DeliveryResult(order.key, ok=True, reference=existing)
            raise
        except ExtensivError as exc:
            if exc.status in (400, 409, 422) and _names_duplicate(exc.reason):
                existing = self._find_order(order.key, customer_id)
                if existing:
                    return DeliveryResult(order.key, ok=True, reference=existing)
            return DeliveryResult(
                order.key,
                ok=False,
                error=f"Extensiv refused order {order.key}: {exc.reason} (HTTP {exc.status}).",
            )
        reference = mappers.order_id_of(created) if isinstance(created, dict) else ""
        if not reference:
            # Created, but the id is not in the answer: read it back by reference.
            reference = self._find_order(order.key, customer_id)
        return DeliveryResult(order.key, ok=True, reference=reference)

    def _find_order(self, key: str, customer_id: int) -> str:
        """Return the id of the customer's live order with referenceNum `key`, or ""."""
        rql = f"referenceNum=={_rql_value(key)};ReadOnly.CustomerIdentifier.Id=={customer_id}"
        for page in self.client.pages(
            "orders", {"rql": rql}, collection="resourceList", page_size=10
        ):
            for found in page:
                if str(dig(found, "referenceNum", "")) == key and not mappers.is_canceled(found):
                    return mappers.order_id_of(found)
        return ""

    def cancel_order(self, merchant: MerchantRef, key: str, reference: str) -> str:
        """Cancel through the order's canceler, naming the version read (If-Match)."""
        order_id = reference if reference.isdigit() else ""
        if not order_id:
            order_id = self._find_order(key, self._customer_id(merchant))
            if not order_id:
                return ""  # Extensiv has no live order under this key: nothing to cancel
        for _attempt in range(3):
            read = self.client.request("GET", f"orders/{order_id}", allow=(404,))
            if read.status_code == 404:
                return ""
            found = self.client.json_of(read, f"orders/{order_id}")
            if mappers.is_canceled(found):
                return ""
            if mappers.is_shipped(found):
                return f"Extensiv has shipped order {order_id} already."
            answer = self.client.request(
                "POST",
                f"orders/{order_id}/canceler",
                json={"reason": f"Canceled in the cart (hub order {key})."},
                headers={"If-Match": read.headers.get("ETag", "")},
                allow=(400, 409, 412),
            )
            if answer.status_code < 300:
                return ""
            if answer.status_code != 412:  # 412: changed since read; read it again
                break
        again = self.client.json_of(self.client.request("GET", f"orders/{order_id}"), "order")
        if mappers.is_canceled(again):
            return ""
        return f"Extensiv refused to cancel order {order_id}: {reason_of(answer)}"

    # -- shipments and stock -----------------------------------------------------------------

    def fetch_shipments(
        self, merchant: MerchantRef, since: datetime | None
    ) -> Iterator[WmsShipment]:
        customer_id = self._customer_id(merchant)
        clauses = [f"ReadOnly.CustomerIdentifier.Id=={customer_id}", "ReadOnly.IsClosed==true"]
        if since is not None:
            clauses.append(f"ReadOnly.LastModifiedDate=ge={mappers.rql_date(since)}")
        params = {"rql": ";".join(clauses), "sort": "ReadOnly.LastModifiedDate", "detail": "All"}
        for page in self.client.pages(
            "orders", params, collection="resourceList", page_size=ORDERS_PAGE_SIZE
        ):
            for order in page:
                # Closed also covers canceled; rql on status is not reliable, so check here.
                if mappers.is_shipped(order):
                    yield from mappers.shipments_of(order)

    def fetch_inventory(self, merchant: MerchantRef) -> Iterator[StockLevel]:
        customer_id = self._customer_id(merchant)
        # One SKU can have several summary lines in a facility (qualifiers): add them up.
        totals: dict[tuple[str, str], int] = {}
        for page in self.client.pages(
            "inventory/stocksummaries",
            {"rql": f"CustomerIdentifier.Id=={customer_id}"},
            collection="summaries",
            page_size=STOCK_PAGE_SIZE,
        ):
            for summary in page:
                level = mappers.stock_of(summary)
                if level is not None:
                    key = (level.sku, level.warehouse)
                    totals[key] = totals.get(key, 0) + level.quantity
        for (sku, warehouse), quantity in totals.items():
            yield StockLevel(sku=sku, quantity=quantity, warehouse=warehouse)

    # -- settings ----------------------------------------------------------------------------

    def _customer_id(self, merchant: MerchantRef) -> int:
        customer_id = _positive_int(merchant.settings.get("customer_id"))
        if customer_id is None:
            raise AdapterError(
                f"Merchant {merchant.name} has no Extensiv customer id: enter it in the "
                "merchant's WMS settings.",
                permanent=True,
            )
        return customer_id

    def _facility_id(self, merchant: MerchantRef, order: WmsOrder) -> int | None:
        for source in (order.cart_settings, order.merchant_settings, merchant.settings):
            facility_id = _positive_int(source.get("facility_id"))
            if facility_id is not None:
                return facility_id
        return _positive_int(self.settings.get("facility_id"))


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _names_duplicate(reason: str) -> bool:
    text = reason.lower()
    return any(word in text for word in _DUPLICATE_WORDS)


def _rql_value(value: str) -> str:
    """Quote an rql value that holds characters rql would read as syntax."""
    if value and all(ch.isalnum() or ch in "-_." for ch in value):
        return value
    return '"' + value.replace('"', '\\"') + '"'
