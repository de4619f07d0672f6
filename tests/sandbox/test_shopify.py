"""The Shopify emulator answers like the Admin REST API an adapter will meet in production."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from sandbox.clock import ManualClock
from sandbox.seed import CUSTOMERS, LineSpec, OrderSpec
from sandbox.shopify import ShopifyEmulator
from tests.sandbox.receiver import WebhookReceiver

API = "/admin/api/2024-10"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def shop(clock: ManualClock) -> Iterator[ShopifyEmulator]:
    emulator = ShopifyEmulator(clock=clock)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def call(
    shop: ShopifyEmulator, method: str, path: str, token: str | None = None, **kwargs
) -> requests.Response:
    headers = {"X-Shopify-Access-Token": token or shop.access_token, **kwargs.pop("headers", {})}
    return requests.request(method, shop.url(API + path), headers=headers, timeout=5, **kwargs)


def next_link(response: requests.Response) -> str | None:
    return response.links.get("next", {}).get("url")


def two_line_order(shop: ShopifyEmulator) -> dict:
    spec = OrderSpec(lines=(LineSpec("MUG-BLU", 3), LineSpec("TEE-M-BLK", 1)))
    return shop.add_order(spec)


def test_wrong_access_token_gets_401_with_the_live_message(shop):
    response = call(shop, "GET", "/orders.json", token="shpat_wrong")

    assert response.status_code == 401
    assert response.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }


def test_missing_scope_gets_403(clock):
    with ShopifyEmulator(clock=clock, scopes={"read_products"}) as shop:
        response = call(shop, "GET", "/orders.json")

    assert response.status_code == 403
    assert "read_orders" in response.json()["errors"]


def test_orders_older_than_60_days_need_read_all_orders(clock):
    with ShopifyEmulator(clock=clock, scopes={"read_orders"}) as shop:
        old = shop.add_order(OrderSpec(placed_at=clock.now() - timedelta(days=61)))
        recent = shop.add_order()
        listed = call(shop, "GET", "/orders.json").json()["orders"]
        direct = call(shop, "GET", f"/orders/{old['id']}.json")

    assert [o["id"] for o in listed] == [recent["id"]]
    assert direct.status_code == 404


def test_status_defaults_to_open_and_any_lists_everything(shop):
    shop.generate_orders(10, seed=3)

    default = call(shop, "GET", "/orders.json").json()["orders"]
    everything = call(shop, "GET", "/orders.json", params={"status": "any"}).json()["orders"]

    assert len(everything) == 10
    assert all(o["cancelled_at"] is None and o["closed_at"] is None for o in default)
    assert {"cancelled", "fulfilled"} <= {
        "cancelled" if o["cancelled_at"] else o["fulfillment_status"] for o in everything
    }
    assert len(default) < len(everything)


def test_paging_600_orders_follows_link_headers_to_the_end(shop):
    shop.generate_orders(600, seed=7)
    url: str | None = shop.url(API + "/orders.json?status=any&limit=250")
    seen, pages = [], 0
    while url:
        response = requests.get(
            url, headers={"X-Shopify-Access-Token": shop.access_token}, timeout=5
        )
        assert response.status_code == 200
        seen += [o["id"] for o in response.json()["orders"]]
        pages += 1
        url = next_link(response)

    count = call(shop, "GET", "/orders/count.json", params={"status": "any"}).json()["count"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == count == 600
    assert seen == sorted(seen)


def test_previous_link_goes_back_one_page(shop):
    shop.generate_orders(7, seed=1)
    first = call(shop, "GET", "/orders.json", params={"status": "any", "limit": 3})
    second = requests.get(
        next_link(first), headers={"X-Shopify-Access-Token": shop.access_token}, timeout=5
    )
    back = requests.get(
        second.links["previous"]["url"],
        headers={"X-Shopify-Access-Token": shop.access_token},
        timeout=5,
    )

    assert "previous" not in first.links
    assert back.json()["orders"] == first.json()["orders"]


def test_single_page_has_no_link_header(shop):
    shop.generate_orders(3, seed=1)

    response = call(shop, "GET", "/orders.json", params={"status": "any"})

    assert "Link" not in response.headers


def test_limit_over_250_is_a_400_with_field_errors(shop):
    response = call(shop, "GET", "/orders.json", params={"limit": 251})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["limit"]
    assert isinstance(response.json()["errors"]["limit"], list)


def test_page_info_combined_with_a_filter_is_a_400(shop):
    shop.generate_orders(5, seed=1)
    first = call(shop, "GET", "/orders.json", params={"status": "any", "limit": 2})
    page_info = first.links["next"]["url"].split("page_info=")[1]

    response = call(shop, "GET", "/orders.json", params={"page_info": page_info, "status": "any"})

    assert response.status_code == 400
    assert "page_info" in response.json()["errors"]


def test_updated_at_min_finds_orders_changed_since(shop, clock):
    orders = [shop.add_order() for _ in range(3)]
    clock.advance(3600)
    since = clock.now()
    clock.advance(60)
    shop.update_order(orders[1]["id"], note="Leave at the back door")

    response = call(shop, "GET", "/orders.json", params={"updated_at_min": since.isoformat()})

    assert [o["id"] for o in response.json()["orders"]] == [orders[1]["id"]]


def test_full_bucket_answers_429_until_time_leaks_it(shop, clock):
    levels = [
        call(shop, "GET", "/locations.json").headers["X-Shopify-Shop-Api-Call-Limit"]
        for _ in range(40)
    ]
    refused = call(shop, "GET", "/locations.json")
    clock.advance(1)
    admitted = call(shop, "GET", "/locations.json")

    assert levels[0] == "1/40" and levels[-1] == "40/40"
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2.0"
    assert refused.json()["errors"].startswith("Exceeded 2 calls per second for api client.")
    assert admitted.status_code == 200


def test_two_locations_give_two_fulfillment_orders_with_their_own_line_ids(clock):
    with ShopifyEmulator(clock=clock, locations=2) as shop:
        order = two_line_order(shop)
        fos = call(shop, "GET", f"/orders/{order['id']}/fulfillment_orders.json").json()

    fulfillment_orders = fos["fulfillment_orders"]
    assert len({fo["assigned_location_id"] for fo in fulfillment_orders}) == 2
    fo_lines = [line for fo in fulfillment_orders for line in fo["line_items"]]
    assert {line["line_item_id"] for line in fo_lines} == {
        line["id"] for line in order["line_items"]
    }
    assert not {line["id"] for line in fo_lines} & {line["id"] for line in order["line_items"]}


def fulfil(shop: ShopifyEmulator, fo: dict, lines: list[dict] | None, number: str = "1Z999"):
    group: dict = {"fulfillment_order_id": fo["id"]}
    if lines is not None:
        group["fulfillment_order_line_items"] = lines
    body = {
        "fulfillment": {
            "tracking_info": {"number": number, "company": "UPS"},
            "line_items_by_fulfillment_order": [group],
        }
    }
    return call(shop, "POST", "/fulfillments.json", json=body)


def test_partial_then_complete_fulfillment_moves_order_status(shop):
    order = two_line_order(shop)
    fo = shop.fulfillment_orders_of(order["id"])[0]
    mug_line = next(line for line in fo["line_items"] if line["quantity"] == 3)

    partial = fulfil(shop, fo, [{"id": mug_line["id"], "quantity": 2}])
    after_partial = shop.order(order["id"])
    rest = fulfil(shop, fo, None, number="1Z888")
    after_rest = shop.order(order["id"])

    assert partial.status_code == 200
    body = partial.json()["fulfillment"]
    assert body["status"] == "success"
    assert body["name"] == f"{order['name']}.1"
    assert body["tracking_number"] == "1Z999"
    assert body["tracking_url"].startswith("https://www.ups.com/")
    assert after_partial["fulfillment_status"] == "partial"
    assert after_partial["line_items"][0]["fulfillable_quantity"] == 1
    assert rest.status_code == 200
    assert after_rest["fulfillment_status"] == "fulfilled"
    assert shop.fulfillment_orders_of(order["id"])[0]["status"] == "closed"


def test_fulfilling_more_than_fulfillable_is_a_422_with_an_error_list(shop):
    order = shop.add_order(OrderSpec(lines=(LineSpec("MUG-BLU", 1),)))
    fo = shop.fulfillment_orders_of(order["id"])[0]

    response = fulfil(shop, fo, [{"id": fo["line_items"][0]["id"], "quantity": 2}])

    assert response.status_code == 422
    assert isinstance(response.json()["errors"], list)
    assert shop.order(order["id"])["fulfillment_status"] is None


def test_fulfillment_orders_of_two_locations_cannot_share_a_fulfillment(clock):
    with ShopifyEmulator(clock=clock, locations=2) as shop:
        order = two_line_order(shop)
        fos = shop.fulfillment_orders_of(order["id"])
        body = {
            "fulfillment": {
                "line_items_by_fulfillment_order": [
                    {"fulfillment_order_id": fo["id"]} for fo in fos
                ]
            }
        }
        response = call(shop, "POST", "/fulfillments.json", json=body)

    assert response.status_code == 422
    assert "same location" in response.json()["errors"][0]


def test_cancelled_order_cannot_be_fulfilled(shop):
    order = shop.add_order(OrderSpec(outcome="cancelled"))
    fo = shop.fulfillment_orders_of(order["id"])[0]

    response = fulfil(shop, fo, None)

    assert response.status_code == 422
    assert "unfulfillable status" in response.json()["errors"][0]


def test_update_tracking_replaces_the_number(shop):
    order = shop.add_order()
    fo = shop.fulfillment_orders_of(order["id"])[0]
    fulfillment_id = fulfil(shop, fo, None).json()["fulfillment"]["id"]

    response = call(
        shop,
        "POST",
        f"/fulfillments/{fulfillment_id}/update_tracking.json",
        json={"fulfillment": {"tracking_info": {"number": "9400111", "company": "USPS"}}},
    )

    assert response.status_code == 200
    assert response.json()["fulfillment"]["tracking_numbers"] == ["9400111"]
    assert shop.order(order["id"])["fulfillments"][0]["tracking_company"] == "USPS"


def test_legacy_order_fulfillment_endpoint_is_gone(shop):
    order = shop.add_order()

    response = call(shop, "POST", f"/orders/{order['id']}/fulfillments.json", json={})

    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}


def test_inventory_set_changes_available_at_one_location(shop):
    variant = shop.variant_by_sku("MUG-RED")
    location_id = next(iter(shop.locations))

    response = call(
        shop,
        "POST",
        "/inventory_levels/set.json",
        json={
            "location_id": location_id,
            "inventory_item_id": variant["inventory_item_id"],
            "available": 7,
        },
    )
    levels = call(
        shop,
        "GET",
        "/inventory_levels.json",
        params={"inventory_item_ids": variant["inventory_item_id"]},
    ).json()["inventory_levels"]

    assert response.status_code == 200
    assert response.json()["inventory_level"]["available"] == 7
    assert [level["available"] for level in levels] == [7]
    assert shop.inventory_sets[-1]["sku"] == "MUG-RED"


def test_inventory_set_on_an_untracked_item_is_refused(shop):
    untracked = next(v for v in shop.variants.values() if v["inventory_management"] is None)

    response = call(
        shop,
        "POST",
        "/inventory_levels/set.json",
        json={
            "location_id": next(iter(shop.locations)),
            "inventory_item_id": untracked["inventory_item_id"],
            "available": 1,
        },
    )

    assert response.status_code == 422
    assert shop.inventory_sets == []


def test_products_list_variants_with_sku_and_inventory_item(shop):
    products = call(shop, "GET", "/products.json").json()["products"]

    variants = [v for p in products for v in p["variants"]]
    assert {"MUG-BLU", None} <= {v["sku"] for v in variants}
    assert all(isinstance(v["inventory_item_id"], int) for v in variants)


def test_seed_orders_carry_the_edge_cases_adapters_must_survive(shop):
    orders = shop.generate_orders(10, seed=0)

    assert any("shipping_address" not in o for o in orders)
    assert any(line["sku"] is None for o in orders for line in o["line_items"])
    assert any(line["variant_id"] is None for o in orders for line in o["line_items"])
    assert any(
        o["shipping_address"]["last_name"] == "العلي" for o in orders if "shipping_address" in o
    )
    assert any(o["cancelled_at"] for o in orders)
    assert any(o["financial_status"] == "partially_refunded" for o in orders)
    assert any(
        o["shipping_lines"] and o["shipping_lines"][0]["code"] == "DHL-EXP-INTL-0042"
        for o in orders
    )
    assert all(isinstance(o["total_price"], str) for o in orders)
    assert all(o["created_at"].endswith("-04:00") for o in orders)


def test_generated_orders_are_deterministic_for_a_seed(clock):
    with ShopifyEmulator(clock=clock) as one, ShopifyEmulator(clock=clock) as two:
        assert one.generate_orders(30, seed=5) == two.generate_orders(30, seed=5)


def test_webhook_is_signed_with_the_client_secret(shop, receiver):
    created = call(
        shop,
        "POST",
        "/webhooks.json",
        json={"webhook": {"topic": "orders/create", "address": receiver.url}},
    )

    order = shop.add_order(OrderSpec(customer=CUSTOMERS[2], shipping_address=None))

    assert created.status_code == 201
    [hook] = receiver.received
    expected = base64.b64encode(
        hmac.new(shop.client_secret.encode(), hook.body, hashlib.sha256).digest()
    ).decode()
    assert hook.headers["x-shopify-hmac-sha256"] == expected
    assert hook.headers["x-shopify-topic"] == "orders/create"
    assert hook.headers["x-shopify-shop-domain"] == shop.shop_domain
    assert json.loads(hook.body)["id"] == order["id"]


def test_duplicated_webhook_repeats_its_id_and_dropped_one_never_arrives(shop, receiver):
    shop.subscribe("orders/updated", receiver.url)
    order = shop.add_order()

    shop.duplicate_webhooks(1)
    shop.update_order(order["id"], tags="vip")
    shop.drop_webhooks(1)
    shop.update_order(order["id"], tags="vip, late")

    assert len(receiver.received) == 2
    ids = {hook.headers["x-shopify-webhook-id"] for hook in receiver.received}
    assert len(ids) == 1
    assert shop.deliveries[-1].dropped


def test_duplicate_webhook_subscription_is_a_422_with_field_errors(shop, receiver):
    body = {"webhook": {"topic": "orders/create", "address": receiver.url}}
    call(shop, "POST", "/webhooks.json", json=body)

    response = call(shop, "POST", "/webhooks.json", json=body)

    assert response.status_code == 422
    assert response.json() == {"errors": {"address": ["for this topic has already been taken"]}}


def test_forced_errors_answer_then_service_recovers(shop):
    shop.fail_next(2, status=503)

    statuses = [call(shop, "GET", "/locations.json").status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_hung_request_times_out_and_the_next_one_is_answered(shop):
    shop.hang_next(1)

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            shop.url(API + "/locations.json"),
            headers={"X-Shopify-Access-Token": shop.access_token},
            timeout=0.3,
        )
    assert call(shop, "GET", "/locations.json").status_code == 200


def test_added_latency_still_answers(shop):
    shop.set_latency(0.05)

    response = call(shop, "GET", "/locations.json")

    assert response.status_code == 200


def test_every_other_request_throttled_when_switched_on(shop):
    shop.throttle_every_other()

    responses = [call(shop, "GET", "/locations.json") for _ in range(4)]

    assert [r.status_code for r in responses] == [429, 200, 429, 200]
    assert responses[0].headers["Retry-After"] == "2.0"


def test_invalid_json_body_is_a_400(shop):
    response = call(
        shop,
        "POST",
        "/fulfillments.json",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400


def test_requests_are_recorded_with_query_headers_and_body(shop):
    call(shop, "POST", "/inventory_levels/set.json", json={"available": 1})

    recorded = shop.requests[-1]
    assert recorded.method == "POST"
    assert recorded.path == API + "/inventory_levels/set.json"
    assert recorded.headers["x-shopify-access-token"] == shop.access_token
    assert recorded.body == {"available": 1}


def test_unknown_status_filter_is_a_400(shop):
    response = call(shop, "GET", "/orders.json", params={"status": "shipped"})

    assert response.status_code == 400
    assert "status" in response.json()["errors"]
