"""Logging in by email: generic errors, lockout, the client address behind a proxy, reset."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

GENERIC = "That email and password do not match an active user."


def login(client, email, password, **headers):
    return client.post(reverse("login"), {"username": email, "password": password}, **headers)


def test_login_by_email_reaches_the_dashboard(client, world):
    response = login(client, world.staff.email.upper(), PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_generic_message(client, world):
    wrong = login(client, world.staff.email, "not it").content.decode()
    unknown = login(client, "nobody@example.com", "not it").content.decode()
    assert GENERIC in wrong
    assert GENERIC in unknown


def test_passwords_are_hashed_with_argon2(world):
    assert world.staff.password.startswith("argon2$")


def test_repeated_failures_lock_the_login_even_with_the_right_password(client, settings, world):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        login(client, world.staff.email, "wrong", REMOTE_ADDR="203.0.113.7")
    locked = login(client, world.staff.email, PASSWORD, REMOTE_ADDR="203.0.113.7")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert client.get(reverse("dashboard")).status_code == 302


def test_behind_a_proxy_the_lock_follows_the_real_client_not_the_proxy(client, settings, world):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(3):
        login(client, world.staff.email, "wrong", HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)
    # The attacker forges an extra address on the left; the proxy appends the real one.
    forged = login(
        client,
        world.staff.email,
        PASSWORD,
        HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.1",
        **proxy,
    )
    assert forged.status_code == 429
    # Another person behind the same proxy is not locked out.
    other = login(client, world.staff.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy)
    assert other.status_code == 302


def test_without_trusted_proxies_x_forwarded_for_is_ignored(client, settings, world):
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(2):
        login(
            client,
            world.staff.email,
            "wrong",
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
    again = login(
        client,
        world.staff.email,
        PASSWORD,
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="198.51.100.200",
    )
    assert again.status_code == 429


def test_password_reset_by_email_sets_a_new_password(client, world):
    client.post(reverse("password_reset"), {"email": world.staff.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(
        form_url,
        {"new_password1": "a fresh long phrase 42", "new_password2": "a fresh long phrase 42"},
    )
    assert response.status_code == 302
    assert login(client, world.staff.email, "a fresh long phrase 42").status_code == 302


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(client, world):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert b"Check your email" in response.content
    assert mail.outbox == []


def test_logout_is_a_post(client, world):
    client.force_login(world.staff)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_session_and_csrf_cookie_flags(client, world, settings):
    response = login(client, world.staff.email, PASSWORD)
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"]
    assert session["samesite"] == "Lax"


def test_the_login_form_keeps_next_escaped_and_follows_it(client, world):
    page = client.get(reverse("login"), {"next": '/orders/"><x>'}).content.decode()
    assert 'name="next" value="/orders/&quot;&gt;&lt;x&gt;"' in page
    response = client.post(
        reverse("login"),
        {"username": world.staff.email, "password": PASSWORD, "next": "/orders/"},
    )
    assert response["Location"] == "/orders/"
