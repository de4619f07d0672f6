"""HTTP to one BigCommerce store: paths, paging, rate-limit headers and the platform's errors.

Every request goes through `cartrover.http.HttpClient`. Client errors (4xx) are let through
HttpClient and read here, because BigCommerce says what went wrong in its own shapes (V2: an
array of `{"status","message"}`, V3: `application/problem+json`) and paces clients with its
own headers (`X-Rate-Limit-Time-Reset-Ms`), not Retry-After. 5xx and network failures stay
HttpClient's TransientErrors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from cartrover.adapters import AdapterError, AuthError, RateLimited, TransientError
from cartrover.http import (
    DEFAULT_RETRY_AFTER,
    MAX_RETRY_AFTER,
    HttpClient,
    parse_retry_after,
    redact,
    shared_limiter,
)

DEFAULT_API = "https://api.bigcommerce.com"
MAX_PAGE_LIMIT = 250  # above it BigCommerce answers 413
# Standard and Plus plans: 150 requests per 30 s window; the headers correct it per store.
DEFAULT_QUOTA = 150
DEFAULT_WINDOW_SECONDS = 30.0
# A runaway server that never ends a list cannot keep a run going for ever.
MAX_PAGES = 10_000
SCOPES_HELP = (
    "give the store's API account the OAuth scopes Orders (modify), Products (modify) and "
    "Information & settings (read only), then reconnect the cart with its new token"
)
_CLIENT_ERRORS = frozenset(range(400, 500))
_STORE_HASH = re.compile(r"[A-Za-z0-9_-]+")


class NotFound(AdapterError):
    """BigCommerce answered 404: no such store, order or hook."""

    permanent = True


class UnprocessableItems(AdapterError):
    """BigCommerce answered 422 naming fields (`items.3.sku`) it could not accept."""

    permanent = True

    def __init__(self, message: str, *, errors: Mapping[str, str]) -> None:
        super().__init__(message, permanent=True)
        self.errors = dict(errors)


def error_text(response: requests.Response) -> str:
    """Return what BigCommerce said went wrong: V2 array, V3 problem+json, or the body."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason or "no details"
    if isinstance(body, list):
        messages = [str(e.get("message", "")) for e in body if isinstance(e, Mapping)]
        return "; ".join(m for m in messages if m) or "no details"
    if isinstance(body, Mapping):
        title = str(body.get("title") or body.get("message") or body.get("error") or "")
        errors = body.get("errors")
        if isinstance(errors, Mapping) and errors:
            details = "; ".join(f"{k}: {v}" for k, v in errors.items())
            return f"{title} ({details})" if title else details
        return title or "no details"
    return str(body)[:300]


def problem_errors(response: requests.Response) -> dict[str, str]:
    """Return the `errors` object of a V3 problem+json answer (field -> message)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, Mapping):
        return {}
    return {str(k): str(v) for k, v in errors.items()}


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(headers[name])
    except (KeyError, TypeError, ValueError):
        return None
    return value if value >= 0 else None


class BigCommerceClient:
    """Talk to one store's V2 and V3 APIs; raise the typed errors of `cartrover.adapters`."""

    def __init__(
        self,
        *,
        name: str,
        store_hash: str,
        access_token: str,
        api_base: str = DEFAULT_API,
        extra_secrets: tuple[str, ...] = (),
    ) -> None:
        """Create the client; `name` ("cart:12") appears in every log line and error."""
        store_hash = (store_hash or "").strip()
        if not _STORE_HASH.fullmatch(store_hash):
            raise AdapterError(
                f"{name}: the BigCommerce store hash {store_hash!r} is not valid: copy the part "
                "after /stores/ from the store's API path (like abc123).",
                permanent=True,
            )
        if not access_token:
            raise AuthError(
                f"{name}: no BigCommerce access token: create an API account in the store's "
                "control panel and enter its access token."
            )
        base = (api_base or DEFAULT_API).strip().rstrip("/")
        if not base.endswith(f"/stores/{store_hash}"):
            base = f"{base}/stores/{store_hash}"
        self.name = name
        self.store_hash = store_hash
        self.limiter = shared_limiter(
            f"bigcommerce:{store_hash}",
            capacity=DEFAULT_QUOTA,
            rate=DEFAULT_QUOTA / DEFAULT_WINDOW_SECONDS,
        )
        self._secrets = tuple(s for s in (access_token, *extra_secrets) if s)
        self.http = HttpClient(
            name=name,
            base_url=base + "/",
            headers={"X-Auth-Token": access_token, "Accept": "application/json"},
            secrets=self._secrets,
            limiter=self.limiter,
        )

    def __repr__(self) -> str:
        return f"<BigCommerceClient {self.name} store {self.store_hash}>"

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    # --- requests -------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        what: str,
        not_found: str | None = None,
    ) -> requests.Response:
        """Send a request; return a 2xx response or raise the typed error of its status.

        `what` names the action in messages ("download orders"); `not_found` is the message
        for a 404 (default: the store hash is wrong).
        """
        response = self.http.request(method, path, params=params, json=json, allow=_CLIENT_ERRORS)
        self._observe(response)
        status = response.status_code
        if status < 400:
            return response
        said = redact(error_text(response), self._secrets)
        if status == 401:
            raise AuthError(
                f"{self.name}: BigCommerce rejected the access token of store {self.store_hash} "
                f"(HTTP 401: {said}): create a new API account token and reconnect the cart."
            )
        if status == 403:
            raise AuthError(
                f"{self.name}: BigCommerce refused to {what} (HTTP 403: {said}): the token lacks "
                f"an OAuth scope; {SCOPES_HELP}."
            )
        if status == 404:
            raise NotFound(
                f"{self.name}: {not_found or self._no_store()} (HTTP 404: {said})",
                permanent=True,
            )
        if status == 429:
            self._rate_limited(response, what)
        if status == 422:
            raise UnprocessableItems(
                f"{self.name}: BigCommerce could not {what} (HTTP 422: {said})",
                errors=problem_errors(response),
            )
        if status == 408:
            raise TransientError(f"{self.name}: BigCommerce timed out trying to {what}.")
        raise AdapterError(
            f"{self.name}: BigCommerce refused to {what} (HTTP {status}: {said})", permanent=True
        )

    def _no_store(self) -> str:
        return (
            f"BigCommerce has no store with hash {self.store_hash!r}: check the store hash "
            "(the part after /stores/ in the API path) and the API address"
        )

    def _observe(self, response: requests.Response) -> None:
        headers = response.headers
        remaining = _header_float(headers, "X-Rate-Limit-Requests-Left")
        quota = _header_float(headers, "X-Rate-Limit-Requests-Quota")
        reset_ms = _header_float(headers, "X-Rate-Limit-Time-Reset-Ms")
        if remaining is None and quota is None:
            return
        self.limiter.observe(
            remaining=remaining,
            limit=quota,
            reset_in=None if reset_ms is None else reset_ms / 1000,
        )

    def _rate_limited(self, response: requests.Response, what: str) -> None:
        """Raise RateLimited: Retry-After if given, else the quota's reset, else a default."""
        headers = response.headers
        reset_ms = _header_float(headers, "X-Rate-Limit-Time-Reset-Ms")
        if headers.get("Retry-After"):
            seconds = parse_retry_after(headers.get("Retry-After"))
            why = "asked us to slow down"
        elif reset_ms is not None:
            seconds = min(max(reset_ms / 1000, 1.0), MAX_RETRY_AFTER)
            why = "the store's API quota is spent until its window resets"
        else:
            # A 429 without the quota headers is BigCommerce under load, not our quota.
            seconds = DEFAULT_RETRY_AFTER
            why = "BigCommerce is overloaded"
        self.limiter.block_for(seconds)
        raise RateLimited(
            f"{self.name}: could not {what}: {why} (HTTP 429); retry after {seconds:g}s",
            retry_after=seconds,
        )

    def json(self, response: requests.Response, what: str) -> Any:
        """Return the JSON body; 204 and an empty body are None."""
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{self.name}: BigCommerce answered with something that is not JSON while "
                f"trying to {what}; it will be tried again."
            ) from None

    def get_list(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        what: str,
        not_found: str | None = None,
    ) -> list[Any]:
        """GET a V2 list; 204 (BigCommerce's empty list) is []."""
        response = self.call("GET", path, params=params, what=what, not_found=not_found)
        body = self.json(response, what)
        if body is None:
            return []
        if not isinstance(body, list):
            raise AdapterError(
                f"{self.name}: BigCommerce sent {type(body).__name__} instead of a list while "
                f"trying to {what}.",
                permanent=True,
            )
        return body

    def pages(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int,
        what: str,
        not_found: str | None = None,
    ) -> Iterator[list[Any]]:
        """Yield the pages of a V2 list until a short page or a 204."""
        limit = max(1, min(int(limit), MAX_PAGE_LIMIT))
        for page in range(1, MAX_PAGES + 1):
            items = self.get_list(
                path,
                params={**(params or {}), "page": page, "limit": limit},
                what=what,
                not_found=not_found,
            )
            if items:
                yield items
            if len(items) < limit:
                return
        raise AdapterError(
            f"{self.name}: BigCommerce kept sending pages past {MAX_PAGES} while trying to "
            f"{what}; lower the download window.",
            permanent=True,
        )

    def v3_pages(
        self, path: str, *, params: Mapping[str, Any] | None = None, what: str
    ) -> Iterator[list[Any]]:
        """Yield the `data` of each page of a V3 list, following `meta.pagination`."""
        for page in range(1, MAX_PAGES + 1):
            response = self.call(
                "GET", path, params={**(params or {}), "page": page, "limit": 250}, what=what
            )
            body = self.json(response, what)
            data = body.get("data") if isinstance(body, Mapping) else None
            if not isinstance(data, list):
                raise AdapterError(
                    f"{self.name}: BigCommerce sent no data list while trying to {what}.",
                    permanent=True,
                )
            if data:
                yield data
            pagination = (body.get("meta") or {}).get("pagination") or {}
            total_pages = pagination.get("total_pages")
            if not data or not isinstance(total_pages, int) or page >= total_pages:
                return
