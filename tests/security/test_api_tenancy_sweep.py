"""Every operation of the API's OpenAPI schema, called by people who must not reach the object.

The operations come from the schema the API serves (`/api/v1/schema/`), so a new endpoint is
swept as soon as it is documented, and the sweep refuses to run while an operation has a path
parameter or a request body it does not know how to fill. Each operation is called with the ids
of one merchant's objects by a key of another account, a key of the sibling merchant of the
same account, no key, a wrong secret and a revoked key. The answers are 401 without a valid
key, and for a valid key the same answer as for an id that does not exist (404, or 403 where
the key's level may not use the operation at all); after every call the database is the same,
row for row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from api.models import ApiKey, WebhookDelivery
from api.outbound import webhook_endpoint_create
from api.services import api_key_revoke
from orders.models import Order
from tests import factories
from tests.api.conftest import Key, key_for, make_api_cart, order_body
from wms.models import WmsShipMethod

pytestmark = pytest.mark.django_db

SNAPSHOT_APPS = ("merchants", "carts", "orders", "sync", "wms", "api", "axes")
# Columns a request may change without changing anything a tenant owns.
VOLATILE = {("api.ApiKey", "last_used_at")}

# Which object of the victim fills the `{id}` of each path. A new path with a parameter must
# be added here, or the sweep fails: no operation can be missed.
PATH_OBJECTS = {
    "/api/v1/carts/{id}/": "cart",
    "/api/v1/carts/{id}/orders/": "cart",
    "/api/v1/carts/{id}/run-now/": "cart",
    "/api/v1/merchants/{id}/": "merchant",
    "/api/v1/merchants/{id}/run-now/": "merchant",
    "/api/v1/orders/{id}/": "order",
    "/api/v1/orders/{id}/acknowledge/": "order",
    "/api/v1/orders/{id}/cancel/": "order",
    "/api/v1/orders/{id}/resend/": "order",
    "/api/v1/webhook-deliveries/{id}/replay/": "delivery",
    "/api/v1/webhooks/{id}/": "endpoint",
    "/api/v1/webhooks/{id}/deliveries/": "endpoint",
}

# A valid body for every operation that takes one, naming the victim's objects wherever the
# body can name an object: were the scoping missing, the call would succeed and change rows.
BODIES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "carts_create": lambda v: {
        "merchant": v["merchant"].pk,
        "kind": "api",
        "order_source": "Intruder cart",
    },
    "carts_update": lambda v: {"description": "hijacked", "active": False},
    "carts_orders_push": lambda v: order_body("intruder-1"),
    "carts_run_now": lambda v: {"flow": "download"},
    "inventory_create": lambda v: {
        "merchant": v["merchant"].pk,
        "levels": [{"sku": "SKU-1", "quantity": 999}],
    },
    "merchants_create": lambda v: {"name": "Intruder merchant"},
    "merchants_update": lambda v: {"name": "Hijacked", "active": False},
    "merchants_run_now": lambda v: {"flow": "delivery"},
    "orders_acknowledge": lambda v: {"reference": "STOLEN-1"},
    "orders_acknowledge_batch": lambda v: {
        "orders": [{"id": v["order"].pk, "reference": "STOLEN-2"}]
    },
    "ship_method_mappings_create": lambda v: {
        "merchant": v["merchant"].pk,
        "cart_code": "EXPRESS",
        "ship_method": "GROUND",
    },
    "shipments_create": lambda v: {
        "shipments": [
            {
                "order_id": f"H{v['order'].pk}",
                "tracking_number": "1ZSTOLEN",
                "carrier": "UPS",
                "lines": [{"sku": "SKU-1", "quantity": 2}],
            }
        ]
    },
    "webhooks_create": lambda v: {
        "merchant": v["merchant"].pk,
        "url": "https://intruder.example.com/hook",
    },
    "webhooks_update": lambda v: {"active": False, "url": "https://intruder.example.com/"},
}
# Query parameters of list operations that name an object: filled with the victim's ids.
QUERY_OBJECTS = {"merchant": "merchant", "cart": "cart", "order": "order"}
# Operations that only ever create in the caller's own account (the body cannot name
# another tenant): their rows may appear, but only in the caller's account.
CREATES_IN_OWN_ACCOUNT = {"merchants_create"}

CALLERS = [
    "other_account_warehouse_key",
    "other_account_merchant_key",
    "sibling_merchant_key",
    "no_key",
    "wrong_secret",
    "revoked_key",
]
UNAUTHENTICATED = {"no_key", "wrong_secret", "revoked_key"}
AUTH_ERRORS = {"not_authenticated", "authentication_failed"}


# --- Database snapshots ----------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        # Encrypted fields read back as SecretDicts whose repr hides the values: compare them
        # by content, or a changed secret would look unchanged.
        return json.dumps(value, sort_keys=True, default=str)
    return repr(value)


def database_state(app_labels: tuple[str, ...] = SNAPSHOT_APPS) -> dict[str, dict[Any, str]]:
    """Return, per model of the given apps, a digest of every row keyed by primary key."""
    state: dict[str, dict[Any, str]] = {}
    for model in apps.get_models():
        if model._meta.app_label not in app_labels:
            continue
        label = model._meta.label
        columns = [
            f.attname for f in model._meta.concrete_fields if (label, f.attname) not in VOLATILE
        ]
        rows = {}
        for values in model._default_manager.order_by("pk").values_list(*columns):
            digest = hashlib.sha256("|".join(_cell(v) for v in values).encode()).hexdigest()
            rows[values[columns.index(model._meta.pk.attname)]] = digest
        state[label] = rows
    return state


def changed_rows(before: dict, after: dict) -> list[tuple[str, Any, str]]:
    """Return (model, pk, what) for every row added, removed or changed between snapshots."""
    found = []
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, {}), after.get(label, {})
        for pk in sorted(set(old) | set(new), key=str):
            if pk not in old:
                found.append((label, pk, "added"))
            elif pk not in new:
                found.append((label, pk, "removed"))
            elif old[pk] != new[pk]:
                found.append((label, pk, "changed"))
    return found


def _account_of(label: str, pk: Any) -> int | None:
    model = apps.get_model(label)
    row = model._default_manager.filter(pk=pk).first()
    if row is None:
        return None
    if label == "merchants.Account":
        return row.pk
    return getattr(row, "account_id", None)


# --- The schema ------------------------------------------------------------------------------


def schema_operations() -> list[dict[str, Any]]:
    """Return every operation of the served schema: method, path, id, parameters, body."""
    response = Client().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    schema = json.loads(response.content)
    operations = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            parameters = operation.get("parameters", [])
            operations.append(
                {
                    "method": method,
                    "path": path,
                    "id": operation["operationId"],
                    "path_params": [p["name"] for p in parameters if p["in"] == "path"],
                    "query_params": [p["name"] for p in parameters if p["in"] == "query"],
                    "has_body": "requestBody" in operation,
                }
            )
    return operations


def unsweepable(operations: list[dict[str, Any]]) -> list[str]:
    """Return the operations this sweep could not fill in, each with what is missing."""
    missing = []
    for op in operations:
        if op["path_params"] and (op["path"] not in PATH_OBJECTS or op["path_params"] != ["id"]):
            missing.append(f"{op['method'].upper()} {op['path']}: add it to PATH_OBJECTS")
        if op["has_body"] and op["id"] not in BODIES:
            missing.append(f"{op['id']} ({op['method'].upper()} {op['path']}): add a body")
    return missing


# --- Tenants ---------------------------------------------------------------------------------


def tenant_objects(merchant, tag: str) -> dict[str, Any]:
    """Give `merchant` an API cart with an order, a webhook endpoint and one delivery.

    Their order number, order source and webhook address carry `tag`, so an answer that
    shows them is recognized.
    """
    markers = (f"#{tag}-order-7731", f"{tag} API cart 7731", f"https://{tag}-7731.example.com/")
    WmsShipMethod.objects.get_or_create(account=merchant.account, code="GROUND")
    cart = make_api_cart(merchant, order_source=markers[1])
    pusher = key_for("cart", account=merchant.account, cart=cart, name="victim pusher")
    pushed = Client().post(
        f"/api/v1/carts/{cart.pk}/orders/",
        order_body(f"{tag}-1", order_number=markers[0]),
        content_type="application/json",
        HTTP_AUTHORIZATION=pusher.bearer,
    )
    assert pushed.status_code in (200, 201), pushed.content
    order = Order.objects.get(cart=cart)
    endpoint, _ = webhook_endpoint_create(merchant=merchant, url=markers[2])
    delivery = WebhookDelivery.objects.create(
        account_id=merchant.account_id,
        endpoint=endpoint,
        event="order.downloaded",
        event_key=f"{tag}:1",
        payload={"order": order.pk},
    )
    return {
        "merchant": merchant,
        "cart": cart,
        "order": order,
        "endpoint": endpoint,
        "delivery": delivery,
        "markers": markers,
    }


def caller_headers(name: str, world, other_world) -> tuple[dict[str, str], int | None]:
    """Return the Authorization header of a caller and the account it acts for."""
    if name == "no_key":
        return {}, None
    if name == "other_account_warehouse_key":
        key = key_for("warehouse", account=other_world.account, name="intruder")
    elif name == "other_account_merchant_key":
        key = key_for(
            "merchant", account=other_world.account, merchant=other_world.merchant_a, name="i"
        )
    elif name == "sibling_merchant_key":
        key = key_for("merchant", account=world.account, merchant=world.merchant_b, name="sib")
    elif name == "wrong_secret":
        owner = key_for("warehouse", account=world.account, name="owner")
        key = Key(owner.key, owner.secret[::-1])
    elif name == "revoked_key":
        key = key_for("warehouse", account=world.account, name="revoked")
        api_key_revoke(ApiKey.objects.get(pk=key.key.pk))
    else:
        raise AssertionError(name)
    return {"HTTP_AUTHORIZATION": key.bearer}, key.key.account_id


def send(client: Client, method: str, path: str, body: Any, headers: dict[str, str], **query):
    if method == "get":
        return client.get(path, query, **headers)
    if method == "delete":
        return client.delete(path, **headers)
    return getattr(client, method)(
        path, body if body is not None else {}, content_type="application/json", **headers
    )


def error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _tenant(name: str) -> SimpleNamespace:
    account = factories.AccountFactory(name=name)
    return SimpleNamespace(
        account=account,
        merchant_a=factories.MerchantFactory(account=account, name=f"{name} Merchant A"),
        merchant_b=factories.MerchantFactory(account=account, name=f"{name} Merchant B"),
    )


@pytest.fixture
def world(db) -> SimpleNamespace:
    """The first account and its two merchants (API keys need no users)."""
    return _tenant("North")


@pytest.fixture
def other_world(db) -> SimpleNamespace:
    """A second account, built the same way."""
    return _tenant("South")


@pytest.fixture
def victim(world, other_world):
    """Merchant A of the first account and its objects; the other tenants exist beside it."""
    tenant_objects(world.merchant_b, "sibling")  # the other tenants have rows of their own
    tenant_objects(other_world.merchant_a, "stranger")
    return tenant_objects(world.merchant_a, "victim")


def missing_id() -> int:
    """Return an id no row of any swept model has."""
    highest = 0
    for model in (Order, WebhookDelivery, ApiKey):
        highest = max(highest, model.objects.order_by("-pk").values_list("pk", flat=True)[0])
    return highest + 100_000


# --- The sweep -------------------------------------------------------------------------------


def test_every_operation_in_the_schema_can_be_swept(db):
    operations = schema_operations()
    assert len(operations) >= 25
    assert unsweepable(operations) == []


def test_a_new_path_without_a_filler_stops_the_sweep():
    """The coverage check can fail: an unknown path parameter or body is reported."""
    invented = [
        {
            "method": "post",
            "path": "/api/v1/orders/{id}/lines/{line_id}/",
            "id": "orders_lines_split",
            "path_params": ["id", "line_id"],
            "query_params": [],
            "has_body": True,
        }
    ]
    assert len(unsweepable(invented)) == 2


@pytest.mark.parametrize("caller", CALLERS)
def test_no_operation_reaches_another_tenants_objects_and_nothing_changes(
    victim, world, other_world, caller
):
    operations = schema_operations()
    assert unsweepable(operations) == []
    headers, caller_account = caller_headers(caller, world, other_world)
    client = Client()
    absent = missing_id()
    problems: list[str] = []
    before = database_state()
    for op in operations:
        method, template = op["method"], op["path"]
        body = BODIES[op["id"]](victim) if op["has_body"] else None
        what = f"{caller}: {method.upper()} {template}"
        if op["path_params"]:
            path = template.replace("{id}", str(victim[PATH_OBJECTS[template]].pk))
            response = send(client, method, path, body, headers)
            if caller in UNAUTHENTICATED:
                if response.status_code != 401 or error_code(response) not in AUTH_ERRORS:
                    problems.append(f"{what} → {response.status_code}, expected 401")
            else:
                control = send(client, method, template.replace("{id}", str(absent)), body, headers)
                same = (response.status_code, error_code(response)) == (
                    control.status_code,
                    error_code(control),
                )
                if response.status_code not in (403, 404) or not same:
                    problems.append(
                        f"{what} → {response.status_code} {error_code(response)}, "
                        f"a missing id → {control.status_code} {error_code(control)}"
                    )
        else:
            query = {
                name: victim[QUERY_OBJECTS[name]].pk
                for name in op["query_params"]
                if name in QUERY_OBJECTS
            }
            response = send(client, method, template, body, headers, **query)
            if caller in UNAUTHENTICATED:
                if response.status_code != 401 or error_code(response) not in AUTH_ERRORS:
                    problems.append(f"{what} → {response.status_code}, expected 401")
            elif response.status_code < 300:
                text = response.content.decode()
                for marker in victim["markers"]:
                    if marker in text:
                        problems.append(f"{what} answered with the victim's {marker!r}")
                if op["id"] == "orders_acknowledge_batch":
                    results = {r["result"] for r in response.json()["results"]}
                    if results != {"not_found"}:
                        problems.append(f"{what} acknowledged the victim's order: {results}")
        after = database_state()
        changes = changed_rows(before, after)
        if op["id"] in CREATES_IN_OWN_ACCOUNT and caller not in UNAUTHENTICATED:
            changes = [c for c in changes if _account_of(c[0], c[1]) != caller_account]
        if changes:
            problems.append(f"{what} changed rows: {changes}")
        before = after
    assert problems == []


def test_the_same_calls_reach_the_objects_for_their_owner(victim, world):
    """The sweep can fail: the ids are real, and the snapshot sees a change."""
    owner = key_for("warehouse", account=world.account, name="owner")
    headers = {"HTTP_AUTHORIZATION": owner.bearer}
    client = Client()
    for op in schema_operations():
        if op["path_params"] and op["method"] == "get":
            path = op["path"].replace("{id}", str(victim[PATH_OBJECTS[op["path"]]].pk))
            response = client.get(path, **headers)
            assert response.status_code == 200, (path, response.content[:300])
    before = database_state()
    response = send(
        client,
        "patch",
        f"/api/v1/merchants/{victim['merchant'].pk}/",
        BODIES["merchants_update"](victim),
        headers,
    )
    assert response.status_code == 200, response.content
    assert ("merchants.Merchant", victim["merchant"].pk, "changed") in changed_rows(
        before, database_state()
    )
