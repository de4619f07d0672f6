"""Cross-site request forgery: every route refuses a POST without the CSRF token.

The routes come from the URL patterns (the web UI, sign-in and password screens, the admin),
so a new form is covered as soon as it is routed. A signed-in person's POST without a token
is refused with 403 before the view runs and changes nothing. Only the cart webhook intake
(signed by the platform) and the REST API (API keys, never the session cookie) are exempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from merchants.models import User
from tests.security.test_api_tenancy_sweep import changed_rows, database_state
from tests.security.test_ui_tenancy_sweep import foreign_objects, shipped  # noqa: F401

pytestmark = pytest.mark.django_db

CSRF_FAILED = b"CSRF verification failed"
# Values for URL parameters that name no row of the test data; the CSRF check runs before
# the view, so they only have to match the route.
PLACEHOLDERS = {
    "object_id": "1",
    "content_type_id": "1",
    "id": "1",
    "app_label": "merchants",
    "uidb64": "MQ",
    "token": "set-password",
    "webhook_key": "no-such-key",
}
SNAPSHOT = ("merchants", "carts", "orders", "sync", "wms", "api", "axes", "auth", "admin")
SESSION_EXEMPT_BY_DESIGN = {"cart_webhook"}


def routes() -> Iterator[tuple[str, str, URLPattern]]:
    """Yield (qualified name, route text, pattern) of every named route of the hub."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[Any]:
        for p in patterns:
            if isinstance(p, URLResolver):
                inner = ":".join(filter(None, [namespace, p.namespace or ""]))
                yield from walk(p.url_patterns, prefix + str(p.pattern), inner)
            elif isinstance(p, URLPattern):
                yield namespace, prefix + str(p.pattern), p

    for namespace, route, pattern in walk(get_resolver().url_patterns, "", ""):
        if pattern.name:
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield name, route, pattern


def unnamed_routes() -> list[str]:
    found = []
    for p in get_resolver().url_patterns:
        stack = [(p, "")]
        while stack:
            item, prefix = stack.pop()
            if isinstance(item, URLResolver):
                stack.extend((c, prefix + str(item.pattern)) for c in item.url_patterns)
            elif not item.name:
                found.append(prefix + str(item.pattern))
    return found


def is_exempt(pattern: URLPattern) -> bool:
    return bool(getattr(pattern.callback, "csrf_exempt", False))


def is_api(route: str) -> bool:
    return route.startswith("api/v1/")


def url_of(name: str, pattern: URLPattern, objects: dict[str, Any]) -> str:
    """Return the address of a route, naming the signed-in person's own objects."""
    if name in objects:
        return reverse(name, kwargs=objects[name]())
    params = list(pattern.pattern.regex.groupindex)
    try:
        return reverse(name, kwargs={p: PLACEHOLDERS[p] for p in params})
    except (KeyError, NoReverseMatch) as exc:
        raise AssertionError(
            f"route {name!r} takes {params}: give its parameters a value in PLACEHOLDERS"
        ) from exc


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("operator@example.com", "an operator's long phrase")


def signed_in(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_only_the_webhook_intake_and_the_api_are_exempt_from_csrf():
    exempt = {name for name, route, p in routes() if is_exempt(p) and not is_api(route)}
    assert exempt == SESSION_EXEMPT_BY_DESIGN
    api_routes = [(name, p) for name, route, p in routes() if is_api(route)]
    assert api_routes, "the API is routed under api/v1/"
    assert [name for name, p in api_routes if not is_exempt(p)] == []


def test_unnamed_routes_are_only_the_admins_redirects():
    """Routes without a name cannot be swept by name: only the admin's own may exist."""
    assert [r for r in unnamed_routes() if not r.startswith("admin/")] == []


def test_every_post_without_a_csrf_token_is_refused_and_changes_nothing(shipped, operator):  # noqa: F811
    objects = foreign_objects(shipped)
    people = {"admin": signed_in(shipped.world.admin), "operator": signed_in(operator)}
    refused, problems = 0, []
    before = database_state(SNAPSHOT)
    for name, _route, pattern in routes():
        if is_exempt(pattern):
            continue
        client = people["operator" if name.startswith("admin:") else "admin"]
        url = url_of(name, pattern, objects)
        response = client.post(url, {"confirmed": "yes", "name": "Forged", "post": "yes"})
        if response.status_code != 403 or CSRF_FAILED not in response.content:
            problems.append(f"{name} ({url}) → {response.status_code}")
        refused += 1
        after = database_state(SNAPSHOT)
        if changed := changed_rows(before, after):
            problems.append(f"{name} ({url}) changed rows: {changed}")
        before = after
    assert problems == []
    assert refused >= 60
    # The refused logout did not sign anybody out.
    assert people["admin"].get(reverse("dashboard")).status_code == 200


def test_the_same_posts_with_the_token_pass_the_csrf_check(shipped, operator):  # noqa: F811
    """The sweep can fail: the refusals above come from the missing token, not the route."""
    objects = foreign_objects(shipped)
    token = secrets.token_hex(16)
    people = {"admin": signed_in(shipped.world.admin), "operator": signed_in(operator)}
    for name, _route, pattern in routes():
        if is_exempt(pattern):
            continue
        who = "operator" if name.startswith("admin:") else "admin"
        client = people[who]
        if SESSION_KEY not in client.session:  # the previous route signed out
            client = people[who] = signed_in(operator if who == "operator" else shipped.world.admin)
        client.cookies[settings.CSRF_COOKIE_NAME] = token
        response = client.post(url_of(name, pattern, objects), {}, HTTP_X_CSRFTOKEN=token)
        assert CSRF_FAILED not in response.content, name


def test_the_api_ignores_the_session_so_its_exemption_is_safe(shipped):  # noqa: F811
    client = signed_in(shipped.world.admin)
    before = database_state(SNAPSHOT)
    merchant = shipped.world.merchant_a
    response = client.patch(
        f"/api/v1/merchants/{merchant.pk}/", {"name": "Forged"}, content_type="application/json"
    )
    assert response.status_code == 401
    response = client.post(f"/api/v1/merchants/{merchant.pk}/run-now/", {"flow": "delivery"})
    assert response.status_code == 401
    assert changed_rows(before, database_state(SNAPSHOT)) == []


def test_a_forged_webhook_without_the_platforms_signature_changes_nothing(shipped):  # noqa: F811
    client = signed_in(shipped.world.admin)
    before = database_state(SNAPSHOT)
    url = reverse("cart_webhook", args=[shipped.cart.webhook_key])
    response = client.post(url, b'{"id": 1}', content_type="application/json")
    assert response.status_code in (400, 401, 403, 404)
    assert changed_rows(before, database_state(SNAPSHOT)) == []
