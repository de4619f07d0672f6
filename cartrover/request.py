"""Facts about the incoming request that depend on how the hub is deployed."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


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
