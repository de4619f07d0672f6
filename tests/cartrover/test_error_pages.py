"""The product's own error pages: the same with DEBUG on (the demo) as in production."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [True, False])
def test_another_account_s_merchant_is_the_product_s_own_not_found_page(
    client, world, other_world, settings, debug
):
    settings.DEBUG = debug
    client.force_login(world.admin)

    theirs = client.get(reverse("merchant_detail", args=[other_world.merchant_a.pk]))
    missing = client.get("/no/such/page/")

    for response in (theirs, missing):
        assert response.status_code == 404
        page = response.content.decode()
        assert "Not found" in page and "belongs to an account or merchant" in page
        assert "URLconf" not in page and "urlpatterns" not in page  # no list of the hub's URLs


def test_the_api_keeps_its_json_not_found(client, world, settings):
    settings.DEBUG = True
    client.force_login(world.admin)
    response = client.get("/api/v1/orders/999999/")
    assert response.status_code in (401, 403, 404)
    assert not response["Content-Type"].startswith("text/html")


def test_a_server_error_is_the_product_s_own_page():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and "Traceback" not in page
