"""HTTP to one Shopify shop's Admin REST API, through the project's one HttpClient.

Everything here is wire-level: the shop's API root, the access-token header, the call-limit
header that feeds the shared rate limiter, `Link` paging, and Shopify's error bodies turned
into messages a person can act on. No mapping to the hub's dataclasses happens here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from cartrover.adapters import AdapterError, AuthError
from cartrover.http import HttpClient, RateLimiter, redact, shared_limiter

# Shopify's standard REST bucket: 40 calls, leaking 2 per second. The call-limit header
# corrects the capacity for Plus shops, whose bucket is larger.
BUCKET_CAPACITY = 40
LEAK_PER_SECOND = 2.0
MAX_PAGE_SIZE = 250
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
_SCOPE = re.compile(r"\b((?:read|write)_[a-z_]+)\b")
_VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")


def shop_origin(address: str) -> str:
    """Return scheme://host[:port] of a shop address; a bare name means name.myshopify.com.

    Accepts "myshop", "myshop.myshopify.com", "https://myshop.myshopify.com/admin" and an
    emulator's "http://127.0.0.1:8123". Raises a permanent AdapterError for anything else.
    """
    text = (address or "").strip()
    if not text:
        raise AdapterError(
            "The Shopify shop address is empty: enter it as https://your-shop.myshopify.com.",
            permanent=True,
        )
    if "://" not in text:
        if "." not in text and ":" not in text:
            text = f"{text}.myshopify.com"
        text = f"https://{text}"
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port, parts = None, parts._replace(netloc="")  # an invalid port: refused just below
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise AdapterError(
            f"The Shopify shop address {address!r} looks wrong: enter it as "
            "https://your-shop.myshopify.com.",
            permanent=True,
        )
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


def error_text(response: requests.Response) -> str:
    """Return Shopify's `errors` as one line, whichever of its three shapes it came in."""
    try:
        payload = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or f"HTTP {response.status_code}"
    errors = payload.get("errors", payload.get("error")) if isinstance(payload, dict) else payload
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)
    if isinstance(errors, dict):
        return "; ".join(
            f"{name} {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
            for name, msgs in errors.items()
        )
    return f"HTTP {response.status_code}"


class ShopifyClient:
    """Send requests to one shop; translate 401/403/402/404 into actionable errors."""

    def __init__(
        self,
        *,
        shop_address: str,
        access_token: str,
        api_version: str,
        name: str,
        secrets: Collection[str] = (),
    ) -> None:
        self.origin = shop_origin(shop_address)
        version = (api_version or "").strip()
        if not _VERSION.match(version):
            raise AdapterError(
                f"The Shopify API version {api_version!r} is not valid: use YYYY-MM, "
                "such as 2024-10.",
                permanent=True,
            )
        self.host = urlsplit(self.origin).netloc
        self.api_root = f"{self.origin}/admin/api/{version}/"
        # One bucket per shop: every cart (and process) talking to this shop spends it.
        self.limiter: RateLimiter = shared_limiter(
            f"shopify:{self.host}", capacity=BUCKET_CAPACITY, rate=LEAK_PER_SECOND
        )
        self._secrets = tuple(s for s in (access_token, *secrets) if s)
        self.http = HttpClient(
            name=name,
            base_url=self.api_root,
            headers={"X-Shopify-Access-Token": access_token, "Accept": "application/json"},
            secrets=self._secrets,
            limiter=self.limiter,
        )

    def __repr__(self) -> str:
        return f"<ShopifyClient {self.host}>"

    # -- requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: Collection[int] = (),
        doing: str = "",
    ) -> requests.Response:
        """Send one call and return its response; statuses in `allow` come back as they are.

        `doing` ("reading orders") names the call in error messages.
        """
        response = self.http.request(
            method,
            path_or_url,
            params=params,
            json=json,
            allow={401, 402, 403, 404, *allow},
        )
        self._observe(response)
        status = response.status_code
        if status in allow:
            return response
        doing = doing or f"calling {urlsplit(response.url).path}"
        detail = redact(error_text(response), self._secrets)
        if status == 401:
            raise AuthError(
                f"Shopify rejected the access token of {self.host} while {doing} ({detail}): "
                "reconnect the cart with a new Admin API access token."
            )
        if status == 403:
            scopes = sorted(set(_SCOPE.findall(detail)))
            missing = f"the {', '.join(scopes)} permission" if scopes else "a permission"
            raise AuthError(
                f"Shopify refused {doing} on {self.host}: the app lacks {missing} ({detail}). "
                "Grant it in the app's Admin API access scopes, reinstall the app, and "
                "reconnect the cart."
            )
        if status == 402:
            raise AdapterError(
                f"Shopify shop {self.host} is frozen or closed (HTTP 402 while {doing}): the "
                "merchant must settle the shop's Shopify bill.",
                permanent=True,
            )
        if status == 404:
            raise AdapterError(
                f"Shopify answered 404 Not Found while {doing}: the shop address {self.origin} "
                "looks wrong (expected https://your-shop.myshopify.com) or the API version "
                "is no longer served.",
                permanent=True,
            )
        return response

    def get(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        allow: Collection[int] = (),
        doing: str = "",
    ) -> requests.Response:
        """Send a GET; see `request`."""
        return self.request("GET", path_or_url, params=params, allow=allow, doing=doing)

    def post(
        self, path: str, *, json: Any, allow: Collection[int] = (), doing: str = ""
    ) -> requests.Response:
        """Send a POST with a JSON body; see `request`."""
        return self.request("POST", path, json=json, allow=allow, doing=doing)

    def pages(
        self, path: str, key: str, params: Mapping[str, Any], *, doing: str = ""
    ) -> Iterator[list[Any]]:
        """Yield the `key` list of each page: filters on the first call, then `Link` verbatim.

        Shopify refuses filters beside `page_info`, so the next URL is followed as given.
        """
        url: str | None = path
        first = True
        while url:
            response = self.get(url, params=params if first else None, doing=doing)
            first = False
            payload = self.json(response, doing)
            items = payload.get(key) if isinstance(payload, dict) else None
            if not isinstance(items, list):
                raise AdapterError(
                    f"Shopify answered {doing or path} without a {key!r} list: "
                    f"{response.text[:200]!r}",
                    permanent=True,
                )
            yield items
            url = response.links.get("next", {}).get("url")

    def json(self, response: requests.Response, doing: str = "") -> Any:
        """Return the response's JSON, or raise a permanent error naming the call."""
        try:
            return response.json()
        except ValueError:
            raise AdapterError(
                f"Shopify answered {doing or response.url} with something that is not JSON "
                f"(HTTP {response.status_code}); check the shop address {self.origin}.",
                permanent=True,
            ) from None

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    def _observe(self, response: requests.Response) -> None:
        """Feed the call-limit header ("32/40": 32 used of 40) to the shared limiter."""
        header = response.headers.get(CALL_LIMIT_HEADER, "")
        used, _, limit = header.partition("/")
        try:
            used_calls, capacity = float(used), float(limit)
        except ValueError:
            return
        if capacity >= 1:
            self.limiter.observe(remaining=max(0.0, capacity - used_calls), limit=capacity)
