"""HTTP to one WooCommerce site: authentication, paging and WordPress's error bodies.

Everything goes through `cartrover.http.HttpClient`. WooCommerce reads the consumer key and
secret as HTTP Basic (or `consumer_key`/`consumer_secret` query parameters) only when the site
is on HTTPS (`is_ssl()`); a plain-http site ignores both and accepts only OAuth 1.0a one-legged
signatures. So an https store gets Basic, and an http one gets each request signed with
HMAC-SHA256 in an `Authorization: OAuth ...` header: the secret itself never travels, and no
URL (which libraries log at debug level) carries a credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random_secrets
import time
from collections.abc import Collection, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from cartrover.adapters import AdapterError, AuthError
from cartrover.http import HttpClient, redact, shared_limiter

API = "wc/v3"
# WordPress refuses per_page above 100 with a 400; batch endpoints take at most 100 objects.
MAX_PER_PAGE = 100
MAX_BATCH = 100
# Statuses handled here rather than by HttpClient, to give WooCommerce's own reason.
_READ_HERE = frozenset({400, 401, 403, 404, 409, 410, 413, 422})


def _rfc3986(value: str) -> str:
    return quote(value, safe="-_.~")


class OAuth1Signature(AuthBase):
    """Sign each request the OAuth 1.0a one-legged way WooCommerce accepts over plain http.

    RFC 5849 with HMAC-SHA256, key `consumer_secret&`, a fresh nonce and timestamp per request;
    the signature covers the method, the URL without query, and every query parameter (a JSON
    body is not part of it). The parameters go in the Authorization header.
    """

    def __init__(self, consumer_key: str, consumer_secret: str) -> None:
        self._key = consumer_key
        self._secret = consumer_secret

    def __repr__(self) -> str:
        return "<OAuth1Signature>"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(str(request.url))
        base_url = urlunsplit(
            (parts.scheme.lower(), (parts.netloc or "").lower(), parts.path or "/", "", "")
        )
        oauth = {
            "oauth_consumer_key": self._key,
            "oauth_nonce": random_secrets.token_hex(16),
            "oauth_signature_method": "HMAC-SHA256",
            "oauth_timestamp": str(int(time.time())),
        }
        pairs = parse_qsl(parts.query, keep_blank_values=True) + list(oauth.items())
        encoded = sorted((_rfc3986(k), _rfc3986(v)) for k, v in pairs)
        normalized = "&".join(f"{k}={v}" for k, v in encoded)
        base = "&".join([str(request.method).upper(), _rfc3986(base_url), _rfc3986(normalized)])
        digest = hmac.new(f"{self._secret}&".encode(), base.encode(), hashlib.sha256).digest()
        oauth["oauth_signature"] = base64.b64encode(digest).decode()
        request.headers["Authorization"] = "OAuth " + ", ".join(
            f'{k}="{_rfc3986(v)}"' for k, v in oauth.items()
        )
        return request


class WooCommerceError(AdapterError):
    """A WordPress REST error body: `{"code", "message", "data": {"status"}}`."""

    permanent = True

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message, permanent=True)
        self.status = status
        self.code = code


def error_of(response: requests.Response) -> tuple[str, str]:
    """Return the WordPress error code and message of a response ("" when it has none)."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("code") or ""), str(body.get("message") or "")


class WooCommerceClient:
    """Send requests to `<store>/wp-json/`; raise typed errors with WooCommerce's reasons."""

    def __init__(
        self,
        *,
        store_url: str,
        consumer_key: str,
        consumer_secret: str,
        connection_key: str,
        secrets: Collection[str] = (),
    ) -> None:
        self.store_url = store_url.strip().rstrip("/")
        parts = urlsplit(self.store_url)
        self.https = parts.scheme.lower() == "https"
        self._secrets = [s for s in (consumer_key, consumer_secret, *secrets) if s]
        name = f"woocommerce:{connection_key}"
        # Real WooCommerce only reads Basic credentials when the site is on HTTPS.
        auth: tuple[str, str] | OAuth1Signature = (
            (consumer_key, consumer_secret)
            if self.https
            else OAuth1Signature(consumer_key, consumer_secret)
        )
        self.http = HttpClient(
            name=name,
            base_url=f"{self.store_url}/wp-json/",
            auth=auth,
            secrets=self._secrets,
            # No documented rate limit: the limiter only honours the Retry-After of a 429/503.
            limiter=shared_limiter(f"woocommerce:{connection_key}:{parts.netloc.lower()}"),
        )

    def __repr__(self) -> str:
        return f"<WooCommerceClient {self.http.name}>"

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: Collection[int] = (),
    ) -> requests.Response:
        """Send `method` to `path` under /wp-json/ and return the response.

        Statuses in `allow` come back as they are; other 4xx raise AuthError (401/403) or a
        WooCommerceError naming WordPress's code and message; 429 and 5xx raise the typed
        errors of HttpClient.
        """
        response = self.http.request(
            method,
            path.lstrip("/"),
            params=params,
            json=json,
            allow=set(allow) | _READ_HERE,
        )
        status = response.status_code
        if status in allow or status < 400:
            return response
        code, message = error_of(response)
        message = redact(message, self._secrets)[:300]
        reason = f"{message} ({code}, HTTP {status})" if code else f"HTTP {status}"
        if status in (401, 403):
            raise AuthError(
                f"WooCommerce at {self.store_url} rejected the consumer key/secret: {reason}. "
                "Create a REST API key with Read/Write permission in WooCommerce > Settings > "
                "Advanced > REST API and enter it again."
            )
        raise WooCommerceError(
            f"WooCommerce at {self.store_url} refused {method} /wp-json/{path.lstrip('/')}: "
            f"{reason}",
            status=status,
            code=code,
        )

    def json_of(self, response: requests.Response) -> Any:
        """Return a response's JSON; a page that is not JSON means the URL is not the API."""
        try:
            return response.json()
        except ValueError:
            raise AdapterError(
                f"WooCommerce at {self.store_url} answered {urlsplit(response.url).path} with "
                f"something other than JSON (HTTP {response.status_code}, "
                f"{response.headers.get('Content-Type') or 'no content type'}): check that the "
                "store URL is the WordPress site's address and that a security plugin or host "
                "does not block the REST API.",
                permanent=True,
            ) from None

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` and return its JSON."""
        return self.json_of(self.request("GET", path, params=params))

    def post(self, path: str, payload: Any) -> Any:
        """POST JSON to `path` and return the answer's JSON."""
        return self.json_of(self.request("POST", path, json=payload))

    def put(self, path: str, payload: Any) -> Any:
        """PUT JSON to `path` and return the answer's JSON."""
        return self.json_of(self.request("PUT", path, json=payload))

    def pages(
        self, path: str, params: Mapping[str, Any], per_page: int = MAX_PER_PAGE
    ) -> Iterator[list[Any]]:
        """Yield each page of a list endpoint, following X-WP-TotalPages to the end."""
        per_page = max(1, min(int(per_page), MAX_PER_PAGE))
        page = 1
        while True:
            response = self.request(
                "GET", path, params={**params, "page": page, "per_page": per_page}
            )
            items = self.json_of(response)
            if not isinstance(items, list):
                raise AdapterError(
                    f"WooCommerce at {self.store_url} answered /wp-json/{path} with something "
                    "other than a list: is the store URL the WordPress site's address?",
                    permanent=True,
                )
            if items:
                yield items
            try:
                total_pages = int(response.headers.get("X-WP-TotalPages") or 0)
            except ValueError:
                total_pages = 0
            # Without the header, an incomplete page is the last one.
            if not items or (page >= total_pages if total_pages else len(items) < per_page):
                return
            page += 1
