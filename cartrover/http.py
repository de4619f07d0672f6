"""The one outbound HTTP client: every adapter talks to carts and WMSs through `HttpClient`.

It sends nothing without a timeout, turns every failure into one of the typed errors of
`cartrover.adapters`, paces requests with a `RateLimiter` shared per connection, refuses
destinations on private networks (SSRF) unless settings allow them, and keeps secrets out of
log lines, error messages and reprs.

Destination checks happen twice: before a request is sent (so a refused URL never opens a
socket) and again when a socket is opened, which connects only to the addresses it just
checked, so a DNS answer that changes between the two (rebinding) cannot reach a private
address.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from cartrover.adapters import AdapterError, AuthError, RateLimited, TransientError

logger = logging.getLogger("cartrover.http")

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
MAX_REDIRECTS = 5
SNIPPET_LENGTH = 300
# Used when a 429 carries no usable Retry-After.
DEFAULT_RETRY_AFTER = 10.0
# A server cannot park a connection for longer than this with one Retry-After.
MAX_RETRY_AFTER = 3600.0

_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Names of headers and query parameters that carry credentials.
_SENSITIVE_NAME = re.compile(
    r"token|key|secret|sig|passw|pwd|auth|credential|hmac|session|cookie", re.IGNORECASE
)
_SENSITIVE_PARAM = re.compile(
    r"([?&;][^=&;#\s]*?(?:token|key|secret|sig|passw|pwd|auth|credential|hmac|session)"
    r"[^=&;#\s]*=)[^&;#\s'\"]*",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# Values shorter than this found under credential-looking names are not redacted everywhere:
# a parameter like `sort_key=id` would otherwise turn every "id" in a message into ***.
_MIN_DERIVED_SECRET = 6
# RFC 6052 prefix: a NAT64 gateway turns 64:ff9b::a00:5 into a connection to 10.0.0.5.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Auth = tuple[str, str] | AuthBase


class BlockedDestination(AdapterError):
    """The URL points where the hub must not connect (scheme or private address); not retried."""

    permanent = True


# --- Rate limiting ----------------------------------------------------------------------------


class RateLimiter:
    """Pace the requests to one connection: a token bucket that follows the server's counters.

    `capacity` requests may go at once, refilled at `rate` per second (Shopify REST: 40 at 2/s).
    Without capacity and rate the limiter only honours Retry-After blocks. `acquire()` waits
    for a slot but never longer than `max_wait`; `block_for()` (after a 429) makes every
    request before the deadline fail at once, so the server is never asked early.
    Thread-safe; share one per connection through `shared_limiter()`.
    """

    def __init__(
        self,
        key: str = "",
        *,
        capacity: float | None = None,
        rate: float | None = None,
        max_wait: float = 30.0,
        headroom: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create a limiter; `headroom` calls are left unused when following server counters.

        The headroom is for other processes (web, other workers) spending the same server-side
        bucket, which this process cannot see.
        """
        if (capacity is None) != (rate is None):
            raise ValueError("RateLimiter needs both capacity and rate, or neither")
        if capacity is not None and rate is not None and (capacity < 1 or rate <= 0):
            raise ValueError(
                f"RateLimiter needs capacity >= 1 and rate > 0, not {capacity}, {rate}"
            )
        self.key = key
        self.capacity = None if capacity is None else float(capacity)
        self.rate = None if rate is None else float(rate)
        self.max_wait = max_wait
        self.headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self._tokens = self.capacity or 0.0
        # May lie in the future: the bucket does not refill before then (a window reset).
        self._updated = now
        self._blocked_until = now

    def __repr__(self) -> str:
        return f"<RateLimiter {self.key!r} capacity={self.capacity} rate={self.rate}>"

    @property
    def blocked_until(self) -> float:
        """Return the clock time before which every request fails with RateLimited."""
        with self._lock:
            return self._blocked_until

    def acquire(self) -> None:
        """Wait for a slot for one request; raise RateLimited if blocked or the wait is too long."""
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                left = self._blocked_until - now
                raise RateLimited(
                    f"{self.key}: the server asked us to wait; {left:.1f}s left (nothing was sent)",
                    retry_after=left,
                )
            if self.capacity is None or self.rate is None:
                return
            self._refill(now)
            wait = 0.0
            if self._tokens < 1:
                wait = max(0.0, self._updated - now) + (1 - self._tokens) / self.rate
            if wait > self.max_wait:
                raise RateLimited(
                    f"{self.key}: rate limit reached; next request possible in {wait:.1f}s "
                    "(nothing was sent)",
                    retry_after=wait,
                )
            # Take the token now, even if it is only there after the wait: later callers then
            # queue behind this one instead of all waking up at the same moment.
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)

    def observe(
        self,
        *,
        remaining: float | None = None,
        limit: float | None = None,
        reset_in: float | None = None,
    ) -> None:
        """Follow the server's view: `remaining` calls of `limit`, its window resets in seconds.

        Shopify's `X-Shopify-Shop-Api-Call-Limit: 32/40` is remaining=8, limit=40; BigCommerce
        sends X-Rate-Limit-Requests-Left and X-Rate-Limit-Time-Reset-Ms (reset_in=ms / 1000).
        """
        with self._lock:
            if self.capacity is None or self.rate is None:
                return
            now = self._clock()
            self._refill(now)
            if limit is not None and limit >= 1:
                self.capacity = float(limit)
                self._tokens = min(self._tokens, self.capacity)
            if remaining is None:
                return
            # Only ever lower the count: responses to concurrent requests arrive out of order,
            # so a higher number may be older than what we already spent.
            server_view = remaining - self.headroom
            self._tokens = min(self._tokens, server_view)
            if reset_in is not None and server_view < 1:
                self._updated = max(self._updated, now + max(0.0, reset_in))

    def block_for(self, seconds: float) -> None:
        """Refuse every request for `seconds` (a Retry-After), then resume with one at a time."""
        with self._lock:
            now = self._clock()
            self._blocked_until = max(self._blocked_until, now + max(0.0, seconds))
            if self.capacity is not None:
                # The server's bucket is empty: after the block, probe with one request and
                # refill at the normal rate rather than bursting into another 429.
                self._refill(now)
                self._tokens = min(self._tokens, 1.0)
                self._updated = max(self._updated, self._blocked_until)

    def _refill(self, now: float) -> None:
        if self.capacity is None or self.rate is None or now <= self._updated:
            return
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(
    key: str,
    *,
    capacity: float | None = None,
    rate: float | None = None,
    max_wait: float = 30.0,
    headroom: float = 1.0,
) -> RateLimiter:
    """Return the process-wide limiter for `key` (e.g. "shopify:42"), creating it on first use.

    The first call's limits win: every client of one connection must share one bucket.
    """
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = RateLimiter(
                key, capacity=capacity, rate=rate, max_wait=max_wait, headroom=headroom
            )
            _limiters[key] = limiter
        return limiter


def parse_retry_after(value: str | None) -> float:
    """Return the seconds a Retry-After header asks for: a number or an HTTP-date."""
    if not value:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


# --- Destination checks -----------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for cidr in cidrs:
        if not cidr.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"HTTP_ALLOWED_NETWORKS: {cidr!r} is not a network; "
                "give CIDRs such as 10.20.0.0/16 or 192.168.5.10/32"
            ) from None
    return tuple(networks)


def _allowed_networks() -> tuple[IPNetwork, ...]:
    return _parse_networks(tuple(settings.HTTP_ALLOWED_NETWORKS))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address reaches through mapping or translation."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _non_public_kind(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def address_refusal(address: str) -> str | None:
    """Return why the hub must not connect to the IP `address`, or None when it may.

    Private, loopback, link-local (cloud metadata at 169.254.169.254), multicast, reserved and
    unspecified addresses are refused, also when wrapped in IPv6, unless
    ALLOW_PRIVATE_NETWORK_TARGETS is on or the address is inside HTTP_ALLOWED_NETWORKS.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unparseable"
    candidates: list[IPAddress] = [ip]
    kind = _non_public_kind(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            candidates.append(inner)
            kind = kind or _non_public_kind(inner)
    if kind is None or settings.ALLOW_PRIVATE_NETWORK_TARGETS:
        return None
    networks = _allowed_networks()
    if any(candidate in network for candidate in candidates for network in networks):
        return None
    return kind


def checked_addresses(host: str, port: int) -> list[tuple[Any, ...]]:
    """Resolve `host` and return its getaddrinfo entries; refuse all if any one is refused.

    Raises BlockedDestination, or socket.gaierror when the name does not resolve.
    """
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
    for info in infos:
        address = str(info[4][0])
        kind = address_refusal(address)
        if kind is not None:
            via = "" if address == host else f" (it resolves to {address})"
            raise BlockedDestination(
                f"refused to connect to {host}{via}: a {kind} address. If this is an "
                "on-premise system, add its network to HTTP_ALLOWED_NETWORKS."
            )
    return list(infos)


def _open_checked_socket(conn: HTTPConnection) -> socket.socket:
    """Connect to an address of `conn.host` that passed the checks, never resolving again."""
    try:
        infos = checked_addresses(conn.host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(conn.timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        )
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}")


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _open_checked_socket(self)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _open_checked_socket(self)


class _CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    """Open every socket through the destination checks; refuse proxies, which would hide it."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPConnectionPool,
            "https": _CheckedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise BlockedDestination("outbound proxies are not supported by cartrover.http")


# --- Redaction --------------------------------------------------------------------------------


def _secret_forms(values: Iterable[str]) -> tuple[str, ...]:
    """Return each secret as written and as it appears URL-encoded, longest first."""
    forms = set()
    for value in values:
        if value:
            forms.update({value, quote(value, safe=""), quote_plus(value)})
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with the secrets, credential query values and URL passwords as ***."""
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _SENSITIVE_PARAM.sub(r"\1***", text)
    return _USERINFO.sub("***@", text)


def _derived_secrets(
    headers: Mapping[str, str], params: Mapping[str, Any] | None, auth: Auth | None
) -> set[str]:
    """Return credential values found in this request's headers, parameters and auth."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() in _CREDENTIAL_HEADERS or _SENSITIVE_NAME.search(name):
            found.add(value)
            found.add(value.partition(" ")[2])  # the token of "Bearer <token>"
    for name, value in (params or {}).items():
        if _SENSITIVE_NAME.search(name) and isinstance(value, str):
            found.add(value)
    if isinstance(auth, tuple):
        found.add(auth[1])
    return {value for value in found if len(value) >= _MIN_DERIVED_SECRET}


def _without_credentials(
    headers: Mapping[str, str], params: Mapping[str, Any] | None, secrets: Collection[str]
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Return headers and params minus everything that looks like a credential."""

    def is_credential(name: str, value: object) -> bool:
        return bool(
            name.lower() in _CREDENTIAL_HEADERS
            or _SENSITIVE_NAME.search(name)
            or (isinstance(value, str) and any(secret in value for secret in secrets))
        )

    kept_headers = {k: v for k, v in headers.items() if not is_credential(k, v)}
    kept_params = None
    if params is not None:
        kept_params = {k: v for k, v in params.items() if not is_credential(k, v)}
    return kept_headers, kept_params


def destination_refusal(url: str) -> str | None:
    """Return why the hub would refuse to send to `url` (for forms), or None when it may.

    The same rules as every request: http or https only, and a host that resolves only to
    addresses the hub may reach. A name that does not resolve yet is let through: every
    request checks the address again, and a failing one shows in the delivery log.
    """
    scheme, host, port = _origin(url)
    if scheme not in _SCHEMES:
        return "Only http and https addresses are allowed."
    if not host or port is None:
        return "This address has no valid host or port."
    try:
        checked_addresses(host, port)
    except BlockedDestination as exc:
        return exc.message[:1].upper() + exc.message[1:] + "."
    except (socket.gaierror, UnicodeError):
        pass
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None  # an invalid port: the request is refused later with a clear error
    return scheme, (parts.hostname or "").lower(), port


# --- The client -------------------------------------------------------------------------------


class HttpClient:
    """Send requests to one connection's API; turn every failure into a typed AdapterError.

    One client per connection (`name` like "shopify:42" appears in every log line and error),
    not shared between threads. Paths are joined to `base_url` (give them without a leading
    slash to keep its path). Credentials in `headers`, `auth` and credential-named query
    parameters go only to `base_url`'s origin: they are dropped for requests and redirects
    elsewhere. Redirects are followed (at most MAX_REDIRECTS), each hop checked like the first.
    """

    def __init__(
        self,
        *,
        name: str,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        limiter: RateLimiter | None = None,
        auth: Auth | None = None,
    ) -> None:
        """Create a client; `secrets` are redacted from every log line and error message."""
        self.name = name
        self.base_url = base_url
        self.timeout = _checked_timeout(timeout)
        self.limiter = limiter if limiter is not None else RateLimiter(name)
        self._headers = dict(headers or {})
        self._auth = auth
        self._secrets = _secret_forms([*secrets, *_derived_secrets(self._headers, None, auth)])
        self._origin = _origin(base_url) if base_url else None
        self._session = requests.Session()
        # No proxies, .netrc credentials or CA bundles from the environment: what this client
        # connects to and sends is decided here only.
        self._session.trust_env = False
        self._session.headers["User-Agent"] = "cartrover"
        adapter = _CheckedAdapter()
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"<HttpClient {self.name} {redact(self.base_url, self._secrets)}>"

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def get(self, url_or_path: str, **kwargs: Any) -> requests.Response:
        """Send a GET; see `request` for the keyword arguments."""
        return self.request("GET", url_or_path, **kwargs)

    def post(self, url_or_path: str, **kwargs: Any) -> requests.Response:
        """Send a POST; see `request` for the keyword arguments."""
        return self.request("POST", url_or_path, **kwargs)

    def put(self, url_or_path: str, **kwargs: Any) -> requests.Response:
        """Send a PUT; see `request` for the keyword arguments."""
        return self.request("PUT", url_or_path, **kwargs)

    def delete(self, url_or_path: str, **kwargs: Any) -> requests.Response:
        """Send a DELETE; see `request` for the keyword arguments."""
        return self.request("DELETE", url_or_path, **kwargs)

    def request(
        self,
        method: str,
        url_or_path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        allow: Collection[int] = (),
    ) -> requests.Response:
        """Send a request and return the response, or raise the typed error for its status.

        Statuses in `allow` are returned as they are. Otherwise 401/403 raise AuthError, 429
        RateLimited (and block the limiter for Retry-After), 408 and 5xx TransientError, other
        4xx a permanent AdapterError. Network failures and timeouts raise TransientError,
        refused destinations BlockedDestination.
        """
        method = method.upper()
        url = urljoin(self.base_url, url_or_path) if self.base_url else url_or_path
        send_headers = {**self._headers, **(headers or {})}
        auth = self._auth
        secrets = _secret_forms([*self._secrets, *_derived_secrets(send_headers, params, auth)])
        trusted_origin = self._origin or _origin(url)
        credentials_dropped = False
        for _hop in range(MAX_REDIRECTS + 1):
            if not credentials_dropped and _origin(url) != trusted_origin:
                send_headers, params = _without_credentials(send_headers, params, secrets)
                auth = None
                credentials_dropped = True
            response = self._send(method, url, params, json, data, send_headers, auth, secrets)
            location = response.headers.get("Location")
            status = response.status_code
            if status not in _REDIRECT_STATUSES or status in allow or not location:
                break
            response.close()
            next_url = urljoin(response.url, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                # What browsers and requests do: the redirected request is a GET without body.
                method, json, data = "GET", None, None
            elif (json is not None or data is not None) and _origin(next_url) != trusted_origin:
                raise AdapterError(
                    f"{self.name}: {_host(url)} redirected a {method} with a body to "
                    f"{_host(next_url)}; refusing to send the body to another host",
                    permanent=True,
                )
            url, params = next_url, None
        else:
            raise AdapterError(
                f"{self.name}: more than {MAX_REDIRECTS} redirects, the last to "
                f"{redact(url, secrets)}",
                permanent=True,
            )
        self._raise_for_status(response, allow, secrets)
        return response

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str],
        auth: Auth | None,
        secrets: tuple[str, ...],
    ) -> requests.Response:
        """Send one request without following redirects, after the checks and the limiter."""
        self._check_scheme(url, secrets)
        try:
            prepared = self._session.prepare_request(
                requests.Request(
                    method, url, params=params, json=json, data=data, headers=headers, auth=auth
                )
            )
        except (requests.RequestException, ValueError) as exc:
            raise AdapterError(
                f"{self.name}: invalid URL {redact(url, secrets)}: {redact(str(exc), secrets)}",
                permanent=True,
            ) from None
        full_url = str(prepared.url)
        shown_url = redact(full_url, secrets)
        self._check_destination(method, full_url, shown_url)
        self.limiter.acquire()
        host = _host(full_url)
        started = time.monotonic()
        failure: AdapterError | None = None
        try:
            response = self._session.send(prepared, timeout=self.timeout, allow_redirects=False)
        except BlockedDestination as exc:
            failure = BlockedDestination(f"{self.name}: {exc.message}")
            outcome = "refused"
        except requests.Timeout as exc:
            failure = TransientError(
                f"{self.name}: {host} did not answer in time ({redact(str(exc), secrets)})"
            )
            outcome = "timeout"
        except requests.exceptions.SSLError as exc:
            failure = TransientError(
                f"{self.name}: the TLS certificate of {host} could not be verified "
                f"({redact(str(exc), secrets)})"
            )
            outcome = "tls error"
        except requests.RequestException as exc:
            failure = TransientError(
                f"{self.name}: could not reach {host} ({redact(str(exc), secrets)})"
            )
            outcome = "connection error"
        elapsed_ms = (time.monotonic() - started) * 1000
        if failure is not None:
            # Raised outside the except block: the original exception, whose message holds
            # the unredacted URL, must not ride along as __context__ into tracebacks.
            logger.info(
                "%s %s -> %s (%.0f ms) [%s]", method, shown_url, outcome, elapsed_ms, self.name
            )
            raise failure
        logger.info(
            "%s %s -> %s (%.0f ms) [%s]",
            method,
            shown_url,
            response.status_code,
            elapsed_ms,
            self.name,
        )
        return response

    def _check_scheme(self, url: str, secrets: tuple[str, ...]) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in _SCHEMES:
            shown = redact(url, secrets)
            logger.warning("refused %s: only http and https are allowed [%s]", shown, self.name)
            raise BlockedDestination(
                f"{self.name}: refused {shown}: only http and https URLs are allowed"
            )

    def _check_destination(self, method: str, url: str, shown_url: str) -> None:
        """Refuse the URL before anything is sent when its host resolves to a refused address."""
        parts = urlsplit(url)
        host = parts.hostname
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme.lower()]
        except ValueError:
            port = None
        if not host or port is None:
            raise AdapterError(f"{self.name}: invalid URL {shown_url}", permanent=True)
        refusal: str | None = None
        try:
            checked_addresses(host, port)
        except BlockedDestination as exc:
            refusal = exc.message
        except socket.gaierror as exc:
            message = f"{self.name}: could not resolve {host} ({exc.strerror or exc})"
            logger.info("%s %s -> unresolved [%s]", method, shown_url, self.name)
            raise TransientError(message) from None
        if refusal is not None:
            logger.warning("%s %s -> refused: %s [%s]", method, shown_url, refusal, self.name)
            raise BlockedDestination(f"{self.name}: {refusal}")

    def _raise_for_status(
        self, response: requests.Response, allow: Collection[int], secrets: tuple[str, ...]
    ) -> None:
        status = response.status_code
        if status < 400 or status in allow:
            return
        host = _host(response.url)
        snippet = _snippet(response, secrets)
        if status == 401:
            raise AuthError(
                f"{self.name}: the credentials were refused by {host} (HTTP 401: {snippet}); "
                "reconnect with new credentials"
            )
        if status == 403:
            raise AuthError(
                f"{self.name}: the permission was refused by {host} (HTTP 403: {snippet}); "
                "grant the hub the missing access or reconnect"
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.limiter.block_for(retry_after)
            raise RateLimited(
                f"{self.name}: {host} asked us to slow down (HTTP 429); "
                f"retry after {retry_after:g}s",
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            raise TransientError(f"{self.name}: {host} failed with HTTP {status}: {snippet}")
        raise AdapterError(
            f"{self.name}: {host} rejected the request with HTTP {status}: {snippet}",
            permanent=True,
        )


def _checked_timeout(timeout: tuple[float, float]) -> tuple[float, float]:
    """Return (connect, read) seconds, refusing None and anything not positive and finite."""
    try:
        connect, read = timeout
        valid = all(
            isinstance(value, int | float) and math.isfinite(value) and value > 0
            for value in (connect, read)
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            f"HttpClient needs timeout=(connect, read) in positive seconds, not {timeout!r}"
        )
    return float(connect), float(read)


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"


def _snippet(response: requests.Response, secrets: tuple[str, ...]) -> str:
    """Return the start of the body, redacted before shortening so no secret is cut in two."""
    text = response.content.decode(response.encoding or "utf-8", errors="replace")
    text = " ".join(redact(text, secrets).split())
    if len(text) > SNIPPET_LENGTH:
        text = text[: SNIPPET_LENGTH - 1] + "…"
    return text or "empty body"
