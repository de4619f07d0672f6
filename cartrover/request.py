"""Facts about the incoming request that depend on how the hub is deployed."""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str:
    """Return the client's address, trusting X-Forwarded-For only from our own proxies.

    With `TRUSTED_PROXY_COUNT = n`, the n-th address from the right of X-Forwarded-For is the
    client (each proxy appends the address it saw); anything left of it was written by the
    client and is ignored, so a forged header cannot pick someone else's address.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote
    return candidate


# --- Request ids ------------------------------------------------------------------------------

# A caller may send its own id (to follow one request through its logs and ours); anything
# that is not a short token is replaced, so log lines cannot be forged or split by it.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    """Return the id of the request being handled ('' outside a request)."""
    return _request_id.get()


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID if safe) and answer with it."""

    header = "X-Request-ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(self.header, "")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset afterwards: Django logs 4xx answers after the middleware chain returns,
        # and those lines should carry the id too. The next request sets its own.
        _request_id.set(request_id)
        response = self.get_response(request)
        response[self.header] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Add `request_id` to every log record ('-' outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


class NotFoundPageMiddleware:
    """Answer every page that is not found with the product's own page, DEBUG on or off.

    With DEBUG on (the demo) Django's debug 404 lists every URL pattern of the hub; and
    another tenant's object must look exactly like a missing one, to the byte (the page holds
    nothing of the request). API answers keep their JSON.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/api/")
        ):
            return render(request, "404.html", status=404)
        return response
