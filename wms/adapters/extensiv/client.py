"""HTTP to Extensiv 3PL Warehouse Manager: the token, Bearer calls, paging and error bodies.

Everything goes through `cartrover.http.HttpClient`. A token comes from
`POST /AuthServer/api/Token` (HTTP Basic client id:secret plus the user login id and the TPL
GUID) and is reused until shortly before it expires; a 401 on a call fetches a new one once.
Responses come in camelCase or PascalCase, so every body is read with its keys lower-cased
(`lower_keys`) and looked up with `dig`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from cartrover.adapters import AdapterError, AuthError, TransientError
from cartrover.http import DEFAULT_TIMEOUT, HttpClient, redact, shared_limiter

TOKEN_PATH = "AuthServer/api/Token"  # noqa: S105 (a path, not a password)
MAX_PAGE_SIZE = 1000
# Never run past this many pages of one listing, whatever TotalResults says.
MAX_PAGES = 10_000
# A token is used until this share of its life is left (at most TOKEN_MARGIN_MAX seconds).
TOKEN_MARGIN_SHARE = 0.1
TOKEN_MARGIN_MAX = 120.0
DEFAULT_EXPIRES_IN = 1800.0
# Statuses read here rather than by HttpClient, to give Extensiv's own reason.
_READ_HERE = frozenset({400, 401, 403, 404, 409, 412, 422})


class ExtensivError(AdapterError):
    """Extensiv refused a request (4xx) with a reason; not retried."""

    permanent = True

    def __init__(self, message: str, *, status: int, reason: str) -> None:
        super().__init__(message, permanent=True)
        self.status = status
        self.reason = reason


def lower_keys(payload: Any) -> Any:
    """Return `payload` with every object key lower-cased, so both casings read the same."""
    if isinstance(payload, dict):
        return {str(key).lower(): lower_keys(value) for key, value in payload.items()}
    if isinstance(payload, list):
        return [lower_keys(value) for value in payload]
    return payload


def dig(record: Any, path: str, default: Any = None) -> Any:
    """Return the value at dotted `path` (any case) in a `lower_keys` record, or `default`."""
    value = record
    for part in path.lower().split("."):
        if not isinstance(value, dict) or value.get(part) is None:
            return default
        value = value[part]
    return value


def reason_of(response: requests.Response) -> str:
    """Return the reason an error body gives (Hint, Message, error_description), or ""."""
    try:
        body = lower_keys(response.json())
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for name in ("hint", "message", "error_description", "errorcode", "error"):
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return ""


class ExtensivClient:
    """Send authenticated requests to one Extensiv 3PL Warehouse Manager."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        user_login_id: str,
        tpl: str,
        connection_key: str,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = (base_url or "").strip().rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self.client_id = client_id
        self.user_login_id = str(user_login_id or "").strip()
        tpl = str(tpl or "").strip()
        self.tpl = tpl if tpl.startswith("{") else "{" + tpl + "}"
        self.clock = clock
        self._client_secret = client_secret
        self._token: str | None = None
        self._token_good_until = 0.0
        self.token_requests = 0
        self.http = HttpClient(
            name=f"extensiv:{connection_key}",
            base_url=f"{self.base_url}/",
            headers={"Accept": "application/hal+json"},
            secrets=[s for s in (client_secret,) if s],
            timeout=timeout,
            # No documented rate limit: the limiter only honours the Retry-After of a 429/503.
            limiter=shared_limiter(f"extensiv:{connection_key}:{self.host}"),
        )

    def __repr__(self) -> str:
        return f"<ExtensivClient {self.http.name} {self.host}>"

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def _secrets(self) -> list[str]:
        return [s for s in (self._client_secret, self._token) if s]

    # -- the token ---------------------------------------------------------------------------

    def token(self) -> str:
        """Return a live access token, fetching a new one when the cached one is about to end."""
        if self._token is None or self.clock() >= self._token_good_until:
            self._fetch_token()
        assert self._token is not None
        return self._token

    def forget_token(self) -> None:
        """Drop the cached token, so the next call fetches a new one."""
        self._token = None

    def _fetch_token(self) -> None:
        pair = f"{self.client_id}:{self._client_secret}".encode()
        started = self.clock()
        self.token_requests += 1
        response = self.http.post(
            TOKEN_PATH,
            json={
                "grant_type": "client_credentials",
                "user_login_id": self.user_login_id,
                "tpl": self.tpl,
            },
            headers={
                "Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}",
                "Accept": "application/json",
            },
            allow=_READ_HERE,
        )
        if response.status_code >= 400:
            reason = redact(reason_of(response), self._secrets())[:200]
            raise AuthError(
                f"Extensiv at {self.host} refused the client id/secret, user login id or TPL "
                f"GUID (HTTP {response.status_code}{': ' + reason if reason else ''}): check "
                "the REST API access your warehouse set up and enter the credentials again."
            )
        body = self.json_of(response, TOKEN_PATH)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(
                f"Extensiv at {self.host} answered the token request without an access token: "
                "check the base URL and the credentials."
            )
        try:
            expires_in = float(body.get("expires_in") or DEFAULT_EXPIRES_IN)
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        margin = min(TOKEN_MARGIN_MAX, expires_in * TOKEN_MARGIN_SHARE)
        self._token = token
        self._token_good_until = started + max(0.0, expires_in - margin)

    # -- calls -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: Collection[int] = (),
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send `method` to `path` with the token; return the response.

        A 401 fetches a new token and tries once more. Statuses in `allow` come back as they
        are; other 4xx raise AuthError (401/403) or ExtensivError with Extensiv's reason; 429,
        5xx and network failures raise HttpClient's typed errors.
        """
        path = path.lstrip("/")
        for attempt in (1, 2):
            response = self.http.request(
                method,
                path,
                params=params,
                json=json,
                headers={**(headers or {}), "Authorization": f"Bearer {self.token()}"},
                allow=set(allow) | _READ_HERE,
            )
            if response.status_code != 401 or attempt == 2:
                break
            self.forget_token()
        status = response.status_code
        if status < 400 or status in allow:
            return response
        reason = redact(reason_of(response), self._secrets())[:300] or f"HTTP {status}"
        if status in (401, 403):
            raise AuthError(
                f"Extensiv at {self.host} refused access to /{path} even with a new token "
                f"(HTTP {status}: {reason}): check that user login {self.user_login_id} may use "
                "the REST API and has access to this customer."
            )
        raise ExtensivError(
            f"Extensiv at {self.host} refused {method} /{path}: {reason} (HTTP {status})",
            status=status,
            reason=reason,
        )

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` and return its JSON with lower-cased keys."""
        return self.json_of(self.request("GET", path, params=params), path)

    def post(self, path: str, payload: Any) -> Any:
        """POST JSON to `path` and return the answer's JSON with lower-cased keys."""
        return self.json_of(self.request("POST", path, json=payload), path)

    def pages(
        self, path: str, params: Mapping[str, Any], *, collection: str, page_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page of a listing (`collection` key), following TotalResults to the end."""
        size = max(1, min(int(page_size), MAX_PAGE_SIZE))
        for number in range(1, MAX_PAGES + 1):
            body = self.get(path, params={**params, "pgsiz": size, "pgnum": number})
            items = body.get(collection.lower()) if isinstance(body, dict) else None
            if items is None and isinstance(body, dict):
                # HAL responses may nest the list under _embedded.
                embedded = body.get("_embedded")
                if isinstance(embedded, dict) and len(embedded) == 1:
                    items = next(iter(embedded.values()))
            if not isinstance(items, list):
                raise AdapterError(
                    f"Extensiv at {self.host} answered /{path} without a {collection} list: "
                    "is the base URL the 3PL Warehouse Manager API?",
                    permanent=True,
                )
            records = [item for item in items if isinstance(item, dict)]
            if records:
                yield records
            try:
                total = int(body.get("totalresults"))
            except (TypeError, ValueError):
                total = -1
            # Without TotalResults, a short page is the last one.
            if not items or (number * size >= total if total >= 0 else len(items) < size):
                return

    def json_of(self, response: requests.Response, path: str) -> Any:
        """Return the JSON of an answer with lower-cased keys."""
        if response.status_code == 204 or not response.content.strip():
            return {}
        try:
            return lower_keys(response.json())
        except ValueError:
            raise TransientError(
                f"Extensiv at {self.host} answered /{path.lstrip('/')} with something other "
                f"than JSON (HTTP {response.status_code})."
            ) from None
