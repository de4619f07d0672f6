"""Order screens: scoped lists with filters and keyset pages, detail, actions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order, OrderStatus
from orders.selectors import PAGE_SIZE
from tests.hub import make_cart

pytestmark = pytest.mark.django_db

S = OrderStatus


@pytest.fixture
def orders(hub):
    hub.run("download")
    return list(hub.cart.orders.order_by("id"))


def test_staff_see_their_accounts_orders_and_a_merchant_user_only_its_own(
    client, hub, orders, other_world
):
    other_cart = make_cart(hub.world.merchant_b, hub.ledger_dir, seed="bstore", order_count=2)
    hub.run("download", other_cart)
    client.force_login(hub.world.staff)
    page = client.get(reverse("order_list")).content.decode()
    assert all(o.order_number in page for o in orders)
    assert "Store bstore" in page

    client.force_login(hub.world.merchant_user_b)
    page = client.get(reverse("order_list")).content.decode()
    assert "Store bstore" in page and f"Store {hub.cart.setup['seed']}" not in page


def test_other_tenants_order_is_a_404_everywhere(client, hub, orders, other_world):
    order = orders[0]
    for user in (other_world.staff, other_world.admin, hub.world.merchant_user_b):
        client.force_login(user)
        assert client.get(reverse("order_detail", args=[order.pk])).status_code == 404
        assert client.post(reverse("order_action", args=[order.pk, "resend"])).status_code == 404
    client.force_login(hub.world.staff)
    assert client.get(reverse("order_detail", args=[order.pk])).status_code == 200


def test_search_by_number_email_and_sku(client, hub, orders):
    client.force_login(hub.world.staff)
    first = orders[0]
    for term in (first.order_number, first.customer_email, "SKU-1"):
        page = client.get(reverse("order_list"), {"q": term}).content.decode()
        assert first.order_number in page, term
    page = client.get(reverse("order_list"), {"q": "no-such-thing"}).content.decode()
    assert "No orders match." in page


def test_status_group_filter(client, hub, orders):
    client.force_login(hub.world.staff)
    hub.run("delivery")
    Order.objects.filter(pk=orders[0].pk).update(status=S.HELD)
    page = client.get(reverse("order_list"), {"status": "attention"}).content.decode()
    assert orders[0].order_number in page
    assert orders[1].order_number not in page


def test_keyset_pages_cover_every_order_once(client, hub):
    cart = make_cart(hub.world.merchant_a, hub.ledger_dir, seed="big", order_count=PAGE_SIZE + 7)
    hub.run("download", cart)
    client.force_login(hub.world.staff)
    seen, url, params = [], reverse("order_list"), {"cart": cart.pk}
    for _ in range(5):
        response = client.get(url, params)
        seen.extend(o.pk for o in response.context["orders"])
        if not response.context["next_cursor"]:
            break
        params = {"cart": cart.pk, "after": response.context["next_cursor"]}
    assert sorted(seen) == sorted(cart.orders.values_list("pk", flat=True))


def test_order_list_query_count_does_not_grow_with_rows(client, hub):
    client.force_login(hub.world.staff)
    small = make_cart(hub.world.merchant_a, hub.ledger_dir, seed="few", order_count=2)
    hub.run("download", small)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("order_list"))
    many = make_cart(hub.world.merchant_a, hub.ledger_dir, seed="many", order_count=40)
    hub.run("download", many)
    with CaptureQueriesContext(connection) as lots:
        client.get(reverse("order_list"))
    assert len(lots) == len(few)


def test_detail_shows_lines_shipments_timeline_and_raw_payload(client, hub, orders):
    hub.run("delivery")
    hub.run("ship_confirm")
    client.force_login(hub.world.staff)
    page = client.get(reverse("order_detail", args=[orders[0].pk])).content.decode()
    assert "1ZS" in page  # tracking
    assert "Downloaded from" in page and "Delivered to the WMS" in page
    assert "As the cart sent it" in page and orders[0].external_id in page


def test_destructive_action_asks_for_confirmation_first(client, hub, orders):
    client.force_login(hub.world.staff)
    url = reverse("order_action", args=[orders[0].pk, "cancel_sending"])
    response = client.post(url)
    assert b"Yes, cancel sending" in response.content
    assert Order.objects.get(pk=orders[0].pk).status == S.NEW
    client.post(url, {"confirmed": "yes"})
    assert Order.objects.get(pk=orders[0].pk).status == S.HELD
    client.post(reverse("order_action", args=[orders[0].pk, "release"]))
    assert Order.objects.get(pk=orders[0].pk).status == S.NEW


def test_bulk_resend_only_touches_orders_that_allow_it(client, hub, orders):
    hub.run("delivery")
    Order.objects.filter(pk=orders[1].pk).update(status=S.SHIPPED)
    client.force_login(hub.world.staff)
    response = client.post(
        reverse("orders_bulk"),
        {"action": "resend", "order": [orders[0].pk, orders[1].pk], "confirmed": "yes"},
        follow=True,
    )
    assert b"1 order(s) done, 1 skipped" in response.content
    assert Order.objects.get(pk=orders[0].pk).status == S.NEW
    assert Order.objects.get(pk=orders[1].pk).status == S.SHIPPED


def test_bulk_actions_ignore_other_tenants_orders(client, hub, orders, other_world):
    client.force_login(other_world.staff)
    client.post(
        reverse("orders_bulk"),
        {"action": "cancel_sending", "order": [orders[0].pk], "confirmed": "yes"},
    )
    assert Order.objects.get(pk=orders[0].pk).status == S.NEW


def test_next_never_redirects_off_site(client, hub, orders):
    client.force_login(hub.world.staff)
    response = client.post(
        reverse("orders_bulk"),
        {"action": "release", "order": [orders[0].pk], "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("order_list")


def test_dashboard_counts_link_to_filtered_lists_and_shows_alerts(client, hub, orders):
    hub.cart.setup = {**hub.cart.setup, "failure": "auth"}
    hub.cart.save()
    from sync.models import Schedule

    Schedule.objects.filter(cart=hub.cart).update(next_run_at="2000-01-01T00:00:00Z")
    hub.run("download")
    client.force_login(hub.world.staff)
    page = client.get(reverse("dashboard")).content.decode()
    assert f"{reverse('order_list')}?status=new" in page
    assert ">6</span>" in page  # six new orders
    assert "refused the API key" in page  # the open alert and the unhealthy cart
    assert "6 downloaded" in page  # today's bar in the chart


def test_dashboard_query_count_does_not_grow_with_orders(client, hub):
    client.force_login(hub.world.staff)
    small = make_cart(hub.world.merchant_a, hub.ledger_dir, seed="d1", order_count=2)
    hub.run("download", small)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("dashboard"))
    many = make_cart(hub.world.merchant_b, hub.ledger_dir, seed="d2", order_count=30)
    hub.run("download", many)
    with CaptureQueriesContext(connection) as lots:
        client.get(reverse("dashboard"))
    assert len(lots) == len(few)


def test_a_merchants_page_shows_the_dashboard_at_that_merchants_scope(client, hub, orders):
    other_cart = make_cart(hub.world.merchant_b, hub.ledger_dir, seed="bscope", order_count=3)
    other_cart.setup = {**other_cart.setup, "failure": "auth"}
    other_cart.save()
    hub.run("download", other_cart)
    client.force_login(hub.world.staff)

    page_a = client.get(reverse("merchant_detail", args=[hub.world.merchant_a.pk])).content
    page_b = client.get(reverse("merchant_detail", args=[hub.world.merchant_b.pk])).content

    a, b = page_a.decode(), page_b.decode()
    assert f"?merchant={hub.world.merchant_a.pk}&amp;status=new" in a
    assert "6 downloaded" in a and "refused the API key" not in a
    assert "0 downloaded" in b and "refused the API key" in b


def test_a_merchants_page_query_count_does_not_grow_with_orders(client, hub):
    client.force_login(hub.world.staff)
    url = reverse("merchant_detail", args=[hub.world.merchant_a.pk])
    hub.run("download", make_cart(hub.world.merchant_a, hub.ledger_dir, seed="m1", order_count=2))
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    hub.run("download", make_cart(hub.world.merchant_a, hub.ledger_dir, seed="m2", order_count=30))
    with CaptureQueriesContext(connection) as lots:
        client.get(url)
    assert len(lots) == len(few)


def test_mapping_an_unmapped_code_in_place_releases_its_orders(client, hub):
    cart = make_cart(
        hub.world.merchant_b,
        hub.ledger_dir,
        seed="holdme",
        order_count=4,
        ship_codes="DRONE",
        reject_unmapped=True,
    )
    hub.run("download", cart)
    client.force_login(hub.world.merchant_user_b)
    page = client.get(reverse("holds")).content.decode()
    assert "DRONE" in page and ">4</a>" in page
    from wms.models import WmsShipMethod

    ground = WmsShipMethod.objects.get(account=hub.world.account, code="GROUND")
    response = client.post(
        reverse("holds"),
        {"merchant": hub.world.merchant_b.pk, "code": "DRONE", "ship_method": ground.pk},
        follow=True,
    )
    assert b"4 order(s) released" in response.content
    assert set(cart.orders.values_list("status", flat=True)) == {S.NEW}


def test_a_merchant_user_cannot_map_codes_of_another_merchant(client, hub):
    from wms.models import WmsShipMethod

    ground = WmsShipMethod.objects.get(account=hub.world.account, code="GROUND")
    client.force_login(hub.world.merchant_user_b)
    response = client.post(
        reverse("holds"),
        {"merchant": hub.world.merchant_a.pk, "code": "GROUND", "ship_method": ground.pk},
    )
    assert response.status_code == 404
