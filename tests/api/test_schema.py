"""The OpenAPI schema, its documentation page, and a schemathesis run against the schema.

Schemathesis generates requests for every operation from the schema and sends them to the
hub's WSGI application with a real warehouse key; no answer may be a 500, and every answer
must match the schema (status codes documented, bodies of the documented shape).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cartrover.wsgi import application
from tests.api.conftest import key_for, make_api_cart, order_body
from wms.models import WmsShipMethod

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_schema_is_served_without_a_key(db):
    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/orders/" in schema["paths"]
    assert set(schema["components"]["securitySchemes"]) == {"basicAuth", "bearerAuth"}


def test_docs_page_uses_the_hubs_own_static_files(db):
    page = Client().get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn" not in html.lower()


@pytest.fixture
def keep_test_connection():
    """Keep the test's database connection open across WSGI requests (as Django's test
    client does): the WSGI handler closes it when a response finishes."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(world, keep_test_connection):
    """Some rows for the generated requests to find: a cart, an order, a ship method."""
    WmsShipMethod.objects.create(account=world.account, code="GROUND")
    cart = make_api_cart(world.merchant_a)
    from api.serializers import PushOrderSerializer
    from api.services import orders_push

    one = PushOrderSerializer(data=order_body("fuzz-1"))
    assert one.is_valid()
    orders_push(cart, [one.to_cart_order(order_body("fuzz-1"))])
    return world


def operations():
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/", application, headers={"Accept": "application/json"}
    )
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
def test_generated_requests_get_no_500_and_match_the_schema(fuzz_world):
    key = key_for("warehouse", account=fuzz_world.account)
    headers = {"Authorization": key.bearer}
    failures, statuses = [], []
    found = operations()
    assert len(found) >= 25

    for operation in found:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.append(response.status_code)

        try:
            run()
        except Exception as exc:  # collect every failing operation, not only the first
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    # The key was accepted: the run reached the views, not only the authentication.
    assert statuses.count(401) == 0
    assert {200, 201} & set(statuses) and 400 in statuses
