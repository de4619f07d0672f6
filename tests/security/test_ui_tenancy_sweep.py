"""Every URL of the web UI, generated from the URL patterns, so no new screen is missed.

For each route: anonymous users are sent to log in; staff of another account and a merchant
user of another merchant get a 404 for objects that are not theirs, and nothing changes: after
every request each row of the hub's tables is compared with its state before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from api.outbound import webhook_endpoint_create
from api.services import api_key_create
from merchants.models import Membership
from orders.models import Order, Shipment
from sync.models import JobRun, Schedule
from tests.security.test_api_tenancy_sweep import changed_rows, database_state

pytestmark = pytest.mark.django_db

# Routes anyone may reach (login, password reset, signed webhooks) or only operators (admin).
PUBLIC = {
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "cart_webhook",
}
UI_APPS = {"merchants", "orders", "carts", "wms", "sync", "api"}
# Actions that only take POST; their effect is tested with their screens.
POST_ONLY = {
    "api_key_action",
    "cart_upload",
    "user_remove",
    "order_action",
    "shipment_resend",
    "orders_bulk",
    "cart_test",
    "schedule_run",
    "wms_test",
    "ship_methods_add",
    "warehouses_add",
    "webhook_endpoint_delete",
    "webhook_delivery_resend",
}


def ui_routes() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list[Any]) -> Iterator[URLPattern]:
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace in {"admin", "api"} or str(p.pattern).startswith(("admin", "api")):
                    continue
                yield from walk(p.url_patterns)
            elif isinstance(p, URLPattern):
                yield p

    for pattern in walk(get_resolver().url_patterns):
        if pattern.name and pattern.name not in PUBLIC:
            module = pattern.callback.__module__.split(".")[0]
            if module in UI_APPS:
                yield pattern.name, pattern


def foreign_objects(hub) -> dict[str, Callable[[], dict[str, Any]]]:
    """Return, per route, the URL kwargs naming an object of merchant A of the first account."""
    order = Order.objects.filter(cart=hub.cart).first()
    shipment = Shipment.objects.filter(order__cart=hub.cart).first()
    schedule = Schedule.objects.filter(cart=hub.cart, flow="download").first()
    merchant_key = (
        ApiKey.objects.filter(merchant=hub.world.merchant_a).first()
        or api_key_create(
            account=hub.world.account,
            level="merchant",
            name="A's key",
            merchant=hub.world.merchant_a,
        )[0]
    )
    endpoint = (
        WebhookEndpoint.objects.filter(merchant=hub.world.merchant_a).first()
        or webhook_endpoint_create(merchant=hub.world.merchant_a, url="https://a.example/hooks")[0]
    )
    delivery, _ = WebhookDelivery.objects.get_or_create(
        account=hub.world.account,
        endpoint=endpoint,
        event_key="order.downloaded:1",
        defaults={"event": "order.downloaded", "payload": {"event": "order.downloaded"}},
    )
    return {
        "webhook_endpoints": lambda: {"pk": hub.world.merchant_a.pk},
        "webhook_endpoint_detail": lambda: {"pk": endpoint.pk},
        "webhook_endpoint_delete": lambda: {"pk": endpoint.pk},
        "webhook_delivery_resend": lambda: {"pk": delivery.pk},
        "cart_new": lambda: {"merchant_pk": hub.world.merchant_a.pk},
        "cart_detail": lambda: {"pk": hub.cart.pk},
        "cart_edit": lambda: {"pk": hub.cart.pk},
        "cart_test": lambda: {"pk": hub.cart.pk},
        "cart_upload": lambda: {"pk": hub.cart.pk},
        "schedule_run": lambda: {"pk": schedule.pk},
        "schedule_status": lambda: {"pk": schedule.pk},
        "merchant_detail": lambda: {"pk": hub.world.merchant_a.pk},
        "merchant_edit": lambda: {"pk": hub.world.merchant_a.pk},
        "job_run_detail": lambda: {"pk": JobRun.objects.filter(cart=hub.cart).first().pk},
        "api_key_action": lambda: {"pk": merchant_key.pk, "action": "revoke"},
        "layout_builder": lambda: {"which": "order"},
        "user_remove": lambda: {"pk": Membership.objects.get(user=hub.world.merchant_user_a).pk},
        "order_detail": lambda: {"pk": order.pk},
        "order_action": lambda: {"pk": order.pk, "action": "cancel_sending"},
        "shipment_resend": lambda: {"pk": shipment.pk},
    }


@pytest.fixture
def shipped(hub):
    for flow in ("download", "delivery", "ship_confirm"):
        hub.run(flow)
    return hub


def snapshot():
    """Return a digest of every row of the hub's tables (see the API sweep)."""
    return database_state()


def test_every_ui_route_is_covered_by_this_sweep(shipped):
    objects = foreign_objects(shipped)
    for name, pattern in ui_routes():
        if pattern.pattern.converters:
            assert name in objects, f"route {name!r} takes an object: add it to foreign_objects"


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_users_are_sent_to_log_in_everywhere(client, shipped, method):
    objects = foreign_objects(shipped)
    before = snapshot()
    for name, pattern in ui_routes():
        kwargs = objects[name]() if pattern.pattern.converters else {}
        response = getattr(client, method)(reverse(name, kwargs=kwargs))
        assert response.status_code in (302, 405), (name, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("login")), name
        assert changed_rows(before, snapshot()) == [], (name, method)


@pytest.mark.parametrize(
    "who", ["other_account_staff", "other_account_admin", "other_merchant_user"]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_other_tenants_get_404_for_objects_not_theirs_and_nothing_changes(
    client, shipped, other_world, who, method
):
    user = {
        "other_account_staff": other_world.staff,
        "other_account_admin": other_world.admin,
        "other_merchant_user": shipped.world.merchant_user_b,
    }[who]
    client.force_login(user)
    objects = foreign_objects(shipped)
    before = snapshot()
    for name, pattern in ui_routes():
        if not pattern.pattern.converters:
            continue
        response = getattr(client, method)(
            reverse(name, kwargs=objects[name]()),
            {"confirmed": "yes"} if method == "post" else None,
        )
        assert response.status_code in (404, 405), (name, method, response.status_code)
        assert changed_rows(before, snapshot()) == [], (name, method)


def test_list_screens_show_nothing_of_another_tenant(client, shipped, other_world):
    client.force_login(other_world.admin)
    order = Order.objects.filter(cart=shipped.cart).first()
    for name, pattern in ui_routes():
        if pattern.pattern.converters or name in POST_ONLY:
            continue
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        body = response.content.decode()
        assert shipped.world.merchant_a.name not in body, name
        assert order.order_number not in body, name


def test_admins_of_the_account_reach_every_screen(client, shipped):
    client.force_login(shipped.world.admin)
    objects = foreign_objects(shipped)
    for name, pattern in ui_routes():
        if name == "layout_builder":
            continue  # only for a CSV file WMS: tests/wms/test_layout_builder.py
        if name in POST_ONLY:
            continue  # POST-only actions, tested with their screens
        kwargs = objects[name]() if pattern.pattern.converters else {}
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 200, name
