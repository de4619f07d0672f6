"""Secrets never leave the hub: not in error pages, the admin, API answers, screens or logs.

Connections hold distinctive secrets; every place that shows a connection is fetched and
searched for them. The log side is watched for the whole suite by `tests/secret_scan.py`;
the tests at the end prove that watch can fail.
"""

from __future__ import annotations

import contextlib
import logging
import sys

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path, reverse
from django.views.debug import ExceptionReporter

from api.models import ApiKey
from api.outbound import webhook_endpoint_create
from api.services import api_key_create
from cartrover.adapters import AdapterError
from cartrover.http import HttpClient
from carts.models import CartConnection
from merchants.models import User
from sandbox.shopify import ShopifyEmulator
from tests.api.conftest import Key
from tests.secret_scan import CaptureHandler, Line, find_leaks, record_text
from wms.models import WmsConfig

pytestmark = pytest.mark.django_db

SHOP_TOKEN = "shpat_hidden_1f2e3d4c5b6a7988"
SHOP_SIGNING_SECRET = "shpss_hidden_99aa88bb77cc66dd"
WMS_CLIENT_SECRET = "extensiv-hidden-5c4b3a2910fedcba"
NEW_SHOP_TOKEN = "shpat_hidden_new_0a0b0c0d0e0f"


@pytest.fixture
def connections(world):
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="shopify",
        order_source="Hidden shop",
        credentials={
            "shop_url": "https://hidden-shop.myshopify.com",
            "access_token": SHOP_TOKEN,
            "webhook_secret": SHOP_SIGNING_SECRET,
        },
    )
    wms = WmsConfig.objects.create(
        account=world.account,
        kind="extensiv",
        credentials={
            "client_id": "hidden-client",
            "client_secret": WMS_CLIENT_SECRET,
            "user_login_id": "7",
            "tpl": "{00000000-0000-4000-8000-000000000007}",
        },
        settings={"base_url": "https://secure-wms.example.com", "facility_id": 1},
    )
    endpoint, signing_secret = webhook_endpoint_create(
        merchant=world.merchant_a, url="https://hooks.example.com/in"
    )
    key, key_secret = api_key_create(account=world.account, level="warehouse", name="ops")
    return {
        "cart": cart,
        "wms": wms,
        "endpoint": endpoint,
        "key": Key(key, key_secret),
        "secrets": [
            SHOP_TOKEN,
            SHOP_SIGNING_SECRET,
            WMS_CLIENT_SECRET,
            signing_secret,
            key_secret,
            settings.SECRET_KEY,
            *settings.FIELD_ENCRYPTION_KEYS,
        ],
    }


def shown(text: str | bytes, secrets: list[str]) -> list[str]:
    """Return the secrets `text` contains, by their first characters."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return [s[:6] + "…" for s in secrets if s in text]


# --- Error pages -----------------------------------------------------------------------------


def failing_view(request: HttpRequest) -> HttpResponse:
    """Fail while the cart's and the WMS's credentials are in local variables."""
    cart = CartConnection.objects.get(kind="shopify")
    credentials = cart.credentials
    wms_credentials = WmsConfig.objects.get(kind="extensiv").credentials
    raise RuntimeError(f"The shop refused the hub ({cart}, {credentials}, {wms_credentials}).")


urlpatterns = [path("fails/", failing_view)]


@pytest.mark.urls(__name__)
def test_the_500_page_shows_no_secret(connections, settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    response = client.get("/fails/")
    assert response.status_code == 500
    assert shown(response.content, connections["secrets"]) == []


def error_report(request: HttpRequest) -> ExceptionReporter:
    """Return the report of the view's failure (from a frame that holds no secret itself)."""
    try:
        failing_view(request)
    except RuntimeError:
        return ExceptionReporter(request, *sys.exc_info())
    raise AssertionError("the view did not fail")


@pytest.mark.urls(__name__)
def test_the_error_report_for_operators_masks_credentials_and_settings(connections, rf):
    """The report Django mails to ADMINS lists locals and settings: secrets are masked."""
    report = error_report(rf.get("/fails/"))
    text, html = report.get_traceback_text(), report.get_traceback_html()
    assert "credentials" in text  # the locals are there, their values masked
    assert shown(text, connections["secrets"]) == []
    assert shown(html, connections["secrets"]) == []


# --- The admin -------------------------------------------------------------------------------


def test_admin_pages_of_connections_keys_and_webhooks_show_no_secret(client, connections):
    client.force_login(User.objects.create_superuser("ops@example.com", "an operator phrase"))
    objects = {
        "carts_cartconnection": connections["cart"],
        "wms_wmsconfig": connections["wms"],
        "api_apikey": connections["key"].key,
        "api_webhookendpoint": connections["endpoint"],
    }
    for prefix, obj in objects.items():
        for page in ("change", "history", "delete"):
            url = reverse(f"admin:{prefix}_{page}", args=[obj.pk])
            response = client.get(url)
            assert response.status_code == 200, url
            assert shown(response.content, connections["secrets"]) == [], url
        listing = client.get(reverse(f"admin:{prefix}_changelist"))
        assert shown(listing.content, connections["secrets"]) == [], prefix


def test_saving_a_connection_in_the_admin_with_errors_shows_no_secret(client, connections):
    client.force_login(User.objects.create_superuser("ops@example.com", "an operator phrase"))
    cart = connections["cart"]
    url = reverse("admin:carts_cartconnection_change", args=[cart.pk])
    response = client.post(url, {"kind": "shopify", "order_source": ""})
    assert response.status_code == 200  # the form comes back with its errors
    assert shown(response.content, connections["secrets"]) == []
    cart.refresh_from_db()
    assert cart.credentials["access_token"] == SHOP_TOKEN


# --- The API and the screens -----------------------------------------------------------------


def test_api_answers_about_carts_show_no_secret(connections, world):
    client = Client()
    auth = {"HTTP_AUTHORIZATION": connections["key"].bearer}
    cart = connections["cart"]
    secrets = [*connections["secrets"], NEW_SHOP_TOKEN]
    answers = [
        client.get("/api/v1/carts/", **auth),
        client.get(f"/api/v1/carts/{cart.pk}/", **auth),
        client.patch(
            f"/api/v1/carts/{cart.pk}/",
            {"credentials": {"access_token": NEW_SHOP_TOKEN}},
            content_type="application/json",
            **auth,
        ),
        client.post(
            "/api/v1/carts/",
            {
                "merchant": world.merchant_b.pk,
                "kind": "shopify",
                "order_source": "Second shop",
                "credentials": {"access_token": NEW_SHOP_TOKEN, "webhook_secret": NEW_SHOP_TOKEN},
            },
            content_type="application/json",
            **auth,
        ),  # refused: the shop address is missing
        client.get(f"/api/v1/webhooks/{connections['endpoint'].pk}/", **auth),
        client.get("/api/v1/webhooks/", **auth),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 400, 200, 200]
    assert answers[2].json()["credentials_set"] == ["access_token", "shop_url", "webhook_secret"]
    for answer in answers:
        assert shown(answer.content, secrets) == [], answer.request["PATH_INFO"]
    cart.refresh_from_db()
    assert cart.credentials["access_token"] == NEW_SHOP_TOKEN


@pytest.mark.parametrize("who", ["admin", "merchant_user_a"])
def test_cart_and_wms_screens_show_no_secret(client, connections, world, who):
    client.force_login(getattr(world, who))
    cart = connections["cart"]
    for url in (
        reverse("cart_detail", args=[cart.pk]),
        reverse("cart_edit", args=[cart.pk]),
        reverse("wms_setup"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert shown(response.content, connections["secrets"]) == [], url


# --- Logs ------------------------------------------------------------------------------------


def test_request_lines_never_reach_the_logs_with_their_query_even_at_debug(caplog, settings):
    """A secret in a query string is logged redacted, and urllib3's own line stays silent."""
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    with ShopifyEmulator() as shop:
        client = HttpClient(
            name="shopify:probe", base_url=f"{shop.base_url}/", secrets=[SHOP_TOKEN]
        )
        with caplog.at_level(logging.DEBUG), contextlib.suppress(AdapterError):
            client.get("admin/api/2024-10/orders.json", params={"access_token": SHOP_TOKEN})
    assert "access_token=***" in caplog.text
    assert SHOP_TOKEN not in caplog.text


# --- The log watch can fail ------------------------------------------------------------------


def probe(records: list[tuple[int, str, tuple]], exc: BaseException | None = None) -> list[Line]:
    """Log through a private logger into a capture handler, as the suite-wide watch does."""
    logger = logging.getLogger("tests.secret_scan.probe")
    logger.propagate = False  # kept away from the watch of this very test
    handler = CaptureHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        for level, message, args in records:
            logger.log(level, message, *args)
        if exc is not None:
            try:
                raise exc
            except type(exc):
                logger.exception("The call failed")
    finally:
        logger.removeHandler(handler)
    return handler.lines


def test_the_log_watch_finds_a_secret_in_a_message_a_traceback_and_a_debug_line(connections):
    secret = connections["secrets"][0]
    lines = probe(
        [(logging.DEBUG, "token=%s", (secret,)), (logging.INFO, "nothing to see", ())],
        exc=RuntimeError(f"refused {secret}"),
    )
    leaks = find_leaks(lines, {secret: "the shop's token"})
    assert [(leak.line.level, leak.line.logger) for leak in leaks] == [
        ("DEBUG", "tests.secret_scan.probe"),
        ("ERROR", "tests.secret_scan.probe"),
    ]
    assert secret not in leaks[0].describe()  # the report names it without showing it


def test_the_log_watch_knows_api_key_secrets_by_their_hash(connections):
    key = connections["key"]
    lines = probe([(logging.WARNING, "Authorization: Bearer %s", (key.bearer[7:],))])
    hashes = set(ApiKey.objects.values_list("secret_hash", flat=True))
    assert [leak.origin for leak in find_leaks(lines, {}, hashes)] == ["an API key's secret"]


def test_the_log_watch_accepts_masked_credentials(connections):
    cart = CartConnection.objects.get(pk=connections["cart"].pk)
    lines = probe([(logging.INFO, "credentials: %s %r", (cart.credentials, cart.credentials))])
    assert "access_token" in lines[0].text
    assert find_leaks(lines, {SHOP_TOKEN: "the shop's token"}) == []


def test_record_text_includes_the_exception_chain():
    try:
        try:
            raise KeyError("inner-detail-4242")
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "inner-detail-4242" in record_text(record)
