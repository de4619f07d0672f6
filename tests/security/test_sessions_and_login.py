"""Sessions and signing in: cookie flags in production, and login throttling behind proxies.

Production settings are built the way a deployment builds them, in a separate process with
DEBUG off (`tests/cartrover/test_settings.py` checks `check --deploy` the same way). The
lockout (django-axes, keyed on the username and the client's address) must follow the real
client: an address forged in X-Forwarded-For cannot escape it, and two people behind the
same trusted proxy are told apart.
"""

from __future__ import annotations

import json

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from tests import factories
from tests.cartrover.test_settings import PRODUCTION, manage

PASSWORD = factories.PASSWORD

SIGN_IN_OVER_HTTPS = """
import json
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
from merchants.models import User
User.objects.create_user("ops@example.com", "a long production phrase 7")
client = Client(HTTP_HOST="hub.example.com")
plain = client.get("/accounts/login/")
page = client.get("/accounts/login/", secure=True)
signed_in = client.post(
    "/accounts/login/",
    {"username": "ops@example.com", "password": "a long production phrase 7"},
    secure=True,
)
def flags(response, name):
    morsel = response.cookies[name]
    return {"secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"]),
            "samesite": morsel["samesite"]}
print(json.dumps({
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location", ""),
    "hsts": page.get("Strict-Transport-Security", ""),
    "signed_in_status": signed_in.status_code,
    "session": flags(signed_in, "sessionid"),
    "csrf": flags(page, "csrftoken"),
}))
"""


@pytest.fixture(scope="module")
def production_sign_in(tmp_path_factory) -> dict:
    """Sign in over HTTPS in a process running the production settings (SQLite for storage)."""
    folder = tmp_path_factory.mktemp("production")
    env = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}"}
    result = manage("shell", "-c", SIGN_IN_OVER_HTTPS, env=env, tmp_path=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_production_session_cookie_is_secure_httponly_and_same_site_lax(production_sign_in):
    assert production_sign_in["signed_in_status"] == 302
    assert production_sign_in["session"] == {"secure": True, "httponly": True, "samesite": "Lax"}


@pytest.mark.slow
def test_production_csrf_cookie_is_secure(production_sign_in):
    assert production_sign_in["csrf"]["secure"] is True
    assert production_sign_in["csrf"]["samesite"] == "Lax"


@pytest.mark.slow
def test_production_sends_plain_http_to_https_and_pins_it(production_sign_in):
    assert production_sign_in["plain_status"] == 301
    assert production_sign_in["plain_location"].startswith("https://hub.example.com/")
    assert "max-age=31536000" in production_sign_in["hsts"]


# --- Login throttling ------------------------------------------------------------------------


@pytest.fixture
def person(db):
    return factories.UserFactory(email="ana@example.com")


@pytest.fixture
def behind_one_proxy(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1


def sign_in(client, email: str, password: str, *, forwarded: str, proxy: str = "10.0.0.2"):
    return client.post(
        reverse("login"),
        {"username": email, "password": password},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_forging_a_new_forwarded_address_on_each_try_does_not_escape_the_lockout(
    client, person, behind_one_proxy
):
    # The attacker writes a fresh address each time; the proxy appends the one it saw.
    for n in range(3):
        sign_in(client, person.email, "wrong", forwarded=f"192.0.2.{n}, 198.51.100.7")
    locked = sign_in(client, person.email, PASSWORD, forwarded="192.0.2.200, 198.51.100.7")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_two_people_behind_the_same_trusted_proxy_are_told_apart(client, person, behind_one_proxy):
    for _ in range(3):
        sign_in(client, person.email, "wrong", forwarded="198.51.100.7")
    assert sign_in(client, person.email, PASSWORD, forwarded="198.51.100.7").status_code == 429
    colleague = sign_in(client, person.email, PASSWORD, forwarded="198.51.100.8")
    assert colleague.status_code == 302
    assert colleague["Location"] == reverse("dashboard")


def test_with_two_proxies_the_client_is_the_second_address_from_the_right(client, person, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 2
    # client → CDN (appends the client) → load balancer (appends the CDN) → hub.
    for n in range(3):
        sign_in(client, person.email, "wrong", forwarded=f"192.0.2.{n}, 198.51.100.7, 203.0.113.5")
    forged = sign_in(client, person.email, PASSWORD, forwarded="1.2.3.4, 198.51.100.7, 203.0.113.5")
    assert forged.status_code == 429
    other = sign_in(client, person.email, PASSWORD, forwarded="198.51.100.8, 203.0.113.5")
    assert other.status_code == 302


def test_a_forwarded_header_too_short_for_the_proxies_counts_as_the_proxy_itself(
    client, person, settings
):
    """A request that skipped a proxy cannot pick its address: it is keyed on the peer."""
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 2
    for n in range(3):
        sign_in(client, person.email, "wrong", forwarded=f"192.0.2.{n}", proxy="203.0.113.9")
    locked = sign_in(client, person.email, PASSWORD, forwarded="192.0.2.99", proxy="203.0.113.9")
    assert locked.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}


def test_the_lockout_is_for_the_username_from_that_address_only(client, person, behind_one_proxy):
    other = factories.UserFactory(email="ben@example.com")
    for _ in range(3):
        sign_in(client, person.email, "wrong", forwarded="198.51.100.7")
    assert sign_in(client, other.email, PASSWORD, forwarded="198.51.100.7").status_code == 302
