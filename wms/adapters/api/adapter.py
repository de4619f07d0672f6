"""The pull-mode WMS: it fetches new orders from the hub's REST API and posts results back.

The hub sends nothing: the delivery flow skips pull-mode WMSes. The WMS lists
`GET /api/v1/orders/?status=new`, acknowledges what it took
(`POST /api/v1/orders/acknowledge/`, moving each to at_wms with its reference), and posts
shipments (`POST /api/v1/shipments/`) and stock (`POST /api/v1/inventory/`). The hub's
ship-confirmation and inventory flows therefore find nothing to fetch: the data arrived by API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from cartrover.adapters import (
    AdapterError,
    DeliveryResult,
    MerchantRef,
    StockLevel,
    WmsOrder,
    WmsShipment,
)
from wms.adapters.base import WmsAdapter


class ApiWmsAdapter(WmsAdapter):
    kind = "api"
    label = "API (the WMS pulls orders)"
    mode = "pull"
    credential_fields = []
    settings_fields = []

    def test_connection(self) -> str:
        return (
            "The WMS pulls orders from the hub's REST API: create a warehouse API key for it "
            "and give it the address /api/v1/."
        )

    def deliver_orders(self, merchant: MerchantRef, orders: list[WmsOrder]) -> list[DeliveryResult]:
        raise AdapterError(
            "This WMS pulls orders through the API; the hub does not send them.", permanent=True
        )

    def fetch_shipments(
        self, merchant: MerchantRef, since: datetime | None
    ) -> Iterator[WmsShipment]:
        return iter(())

    def fetch_inventory(self, merchant: MerchantRef) -> Iterator[StockLevel]:
        return iter(())
