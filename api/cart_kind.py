"""The "api" cart kind: a merchant system pushes orders into the hub through the REST API.

There is nothing to download: orders arrive by `POST /api/v1/carts/{id}/orders/` and are
stored as a download stores them. Tracking and stock are not pushed anywhere; the merchant
system reads shipments with the order (`GET /api/v1/orders/{id}/`) and stock from
`GET /api/v1/inventory/`, so with no "shipments" capability an order is confirmed as soon as
it is fully shipped.

Registered in carts/adapters/__init__.py as
    "api": ("API (orders pushed to the hub)", "api.cart_kind.ApiCartAdapter")
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from cartrover.adapters import BadPayload, CartOrder
from carts.adapters.base import CartAdapter


class ApiCartAdapter(CartAdapter):
    kind = "api"
    label = "API (orders pushed to the hub)"
    capabilities = frozenset()
    credential_fields = []
    setup_fields = []

    def test_connection(self) -> str:
        return "Orders arrive through the REST API: create a cart API key for the sender."

    def fetch_orders(self, since: datetime | None) -> Iterator[CartOrder | BadPayload]:
        return iter(())
