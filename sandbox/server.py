"""HTTP plumbing shared by the cart emulators: routing, request log, faults and webhooks.

An `Emulator` owns its state and one re-entrant lock; handlers run on the server's threads and
take the lock while they read or change state. Each platform subclass registers routes and
overrides the hooks that give it its own error shapes, authentication and rate limits.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import SplitResult, parse_qs, urlsplit

from sandbox.clock import Clock, SystemClock

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def json_bytes(payload: Any) -> bytes:
    """Serialise `payload` the way the platforms do: compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def field_check(
    field: str,
    compare: Callable[[Any, Any], bool],
    bound: Any,
    parse: Callable[[Any], Any] | None = None,
) -> Callable[[dict[str, Any]], bool]:
    """Return a filter predicate: `compare(parse(record[field]), bound)`."""

    def check(record: dict[str, Any]) -> bool:
        value = record[field]
        return compare(parse(value) if parse else value, bound)

    return check


@dataclass
class Response:
    """What a handler answers; the server adds Content-Length."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        """Return the body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


def json_response(
    payload: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> Response:
    """Build a JSON response."""
    return Response(status, json_bytes(payload), {"Content-Type": content_type, **(headers or {})})


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    """Build a response without a body, such as BigCommerce's 204 for an empty list."""
    return Response(status, b"", dict(headers or {}))


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Request:
    """A parsed request handed to a route handler."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    body: Any = None
    body_is_valid_json: bool = True
    params: dict[str, str] = field(default_factory=dict)
    routed: bool = False

    def arg(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of query parameter `name`, or `default`."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """Return every value of `name`, accepting `a,b`, repeated `name=` and `name[]=`."""
        values: list[str] = []
        for raw in self.query.get(name, []) + self.query.get(f"{name}[]", []):
            values.extend(part.strip() for part in raw.split(",") if part.strip())
        return values

    def header(self, name: str) -> str | None:
        """Return header `name` (any case), or None."""
        return self.headers.get(name.lower())


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """A handler for one method and a path pattern that must match the whole path."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


@dataclass
class Faults:
    """What the emulator does wrong on purpose; change it through the Emulator methods."""

    latency: float = 0.0
    fail_status: int = 500
    fail_remaining: int = 0
    hang_remaining: int = 0
    hang_limit: float = 30.0
    throttle_every_other: bool = False
    throttle_next_is_429: bool = True
    drop_webhooks_remaining: int = 0
    duplicate_webhooks_remaining: int = 0


@dataclass
class WebhookDelivery:
    """One outbound webhook POST: what was sent and how the receiver answered."""

    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    error: str | None = None
    dropped: bool = False

    @property
    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


class Emulator:
    """A platform emulator served over HTTP on a daemon thread.

    Subclasses register routes with `route()` and may override `before`, `after`,
    `error_response` and `throttled_response`.
    """

    name = "emulator"

    def __init__(
        self, *, clock: Clock | None = None, webhook_hosts: Iterable[str] = LOOPBACK_HOSTS
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[WebhookDelivery] = []
        self.faults = Faults()
        # Outbound webhooks only reach these hosts, so a sandbox can never post to the internet.
        self.webhook_hosts = frozenset(webhook_hosts)
        self.base_url = ""
        self._routes: list[Route] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- routing -----------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register `handler` for `method` on paths fully matching the regex `pattern`."""
        self._routes.append(Route(method.upper(), re.compile(pattern), handler))

    def url(self, path: str) -> str:
        """Return the absolute URL of `path` on this running emulator."""
        return f"{self.base_url}{path}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host`:`port` (0 picks a free port) in a daemon thread; return the base URL."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        server = ThreadingHTTPServer((host, port), _handler_class(self))
        server.daemon_threads = True
        self._server = server
        bound_host, bound_port = server.server_address[:2]
        self.base_url = f"http://{_url_host(str(bound_host))}:{bound_port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release hung requests; safe to call twice."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- fault injection ---------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by `seconds` of real time."""
        with self.lock:
            self.faults.latency = seconds

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next `count` requests with `status` in the platform's error shape."""
        with self.lock:
            self.faults.fail_remaining = count
            self.faults.fail_status = status

    def hang_next(self, count: int = 1, limit: float = 30.0) -> None:
        """Accept the next `count` requests and never answer them.

        The connection closes after `limit` seconds or when the emulator stops, whichever is
        first, so no server thread outlives the test.
        """
        with self.lock:
            self.faults.hang_remaining = count
            self.faults.hang_limit = limit

    def throttle_every_other(self, enabled: bool = True) -> None:
        """Answer 429 to every other request, starting with the next one."""
        with self.lock:
            self.faults.throttle_every_other = enabled
            self.faults.throttle_next_is_429 = True

    def drop_webhooks(self, count: int = 1) -> None:
        """Record but do not send the next `count` webhook deliveries."""
        with self.lock:
            self.faults.drop_webhooks_remaining = count

    def duplicate_webhooks(self, count: int = 1) -> None:
        """Send each of the next `count` webhook deliveries twice, identically."""
        with self.lock:
            self.faults.duplicate_webhooks_remaining = count

    def clear_faults(self) -> None:
        """Behave normally again."""
        with self.lock:
            self.faults = Faults()

    # -- hooks for platforms -----------------------------------------------------------------

    def before(self, request: Request) -> Response | None:
        """Return a response to refuse `request` (auth, rate limit), or None to route it."""
        return None

    def after(self, request: Request, response: Response) -> None:
        """Add headers every response carries, such as rate-limit counters."""

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Build an error in the platform's shape."""
        return json_response({"error": message}, status)

    def throttled_response(self, request: Request) -> Response:
        """Build the platform's 429."""
        return self.error_response(request, 429, "Too Many Requests")

    # -- request handling --------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """Answer `request`, or return None to leave it unanswered (a hang)."""
        with self.lock:
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    request.query,
                    request.headers,
                    request.body if request.body_is_valid_json else _text(request.raw_body),
                )
            )
            hang, forced, latency, throttle = self._take_faults()
        if hang is not None:
            self._stopping.wait(hang)
            return None
        if latency:
            self._stopping.wait(latency)
        if forced is not None:
            response = self.error_response(request, forced, _phrase(forced))
        elif throttle:
            response = self.throttled_response(request)
        else:
            response = self._dispatch(request)
        self.after(request, response)
        return response

    def _take_faults(self) -> tuple[float | None, int | None, float, bool]:
        faults = self.faults
        if faults.hang_remaining > 0:
            faults.hang_remaining -= 1
            return faults.hang_limit, None, 0.0, False
        forced = None
        if faults.fail_remaining > 0:
            faults.fail_remaining -= 1
            forced = faults.fail_status
        throttle = False
        if faults.throttle_every_other and forced is None:
            throttle = faults.throttle_next_is_429
            faults.throttle_next_is_429 = not faults.throttle_next_is_429
        return None, forced, faults.latency, throttle

    def _dispatch(self, request: Request) -> Response:
        route, method_mismatch = self._match(request)
        refusal = self.before(request)
        if refusal is not None:
            return refusal
        if route is None:
            if method_mismatch:
                return self.error_response(request, 405, "Method Not Allowed")
            return self.error_response(request, 404, "Not Found")
        if not request.body_is_valid_json:
            return self.error_response(request, 400, "The request body is not valid JSON.")
        try:
            return route.handler(request)
        except Exception:
            # An emulator bug must look like a server error to the client, and be visible.
            traceback.print_exc(file=sys.stderr)
            return self.error_response(request, 500, "Internal Server Error")

    def _match(self, request: Request) -> tuple[Route | None, bool]:
        method_mismatch = False
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method != request.method:
                method_mismatch = True
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            request.routed = True
            return route, False
        return None, method_mismatch

    # -- webhooks ----------------------------------------------------------------------------

    def post_webhook(self, url: str, body: bytes, headers: dict[str, str]) -> list[WebhookDelivery]:
        """POST `body` to `url` now, honouring drop/duplicate faults; return the attempts.

        Every attempt is also appended to `self.deliveries`. Receivers that fail or are
        unreachable, and targets outside `webhook_hosts`, are recorded with an error, never
        retried.
        """
        parts = urlsplit(url)
        allowed = parts.scheme == "http" and parts.hostname in self.webhook_hosts
        with self.lock:
            dropped = self.faults.drop_webhooks_remaining > 0
            if dropped:
                self.faults.drop_webhooks_remaining -= 1
            copies = 1
            if not dropped and self.faults.duplicate_webhooks_remaining > 0:
                self.faults.duplicate_webhooks_remaining -= 1
                copies = 2
        headers = {"Content-Type": "application/json", "User-Agent": "sandbox", **headers}
        attempts = []
        for _ in range(copies):
            delivery = WebhookDelivery(url, dict(headers), body, dropped=dropped)
            if not allowed:
                delivery.error = "not sent: only plain http to the allowed webhook hosts"
            elif not dropped:
                _send(delivery, parts.hostname or "127.0.0.1", parts.port or 80, parts)
            attempts.append(delivery)
        with self.lock:
            self.deliveries.extend(attempts)
        return attempts


def _send(delivery: WebhookDelivery, host: str, port: int, parts: SplitResult) -> None:
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request("POST", target, body=delivery.body, headers=delivery.headers)
        answer = connection.getresponse()
        answer.read()
        delivery.status = answer.status
    except OSError as error:
        delivery.error = f"{type(error).__name__}: {error}"
    finally:
        connection.close()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        # Proxies invent statuses such as Cloudflare's 520; they still need a message.
        return f"HTTP {status}"


def _text(raw: bytes) -> str | None:
    return raw.decode("utf-8", errors="replace") if raw else None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _handler_class(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class EmulatorRequestHandler(BaseHTTPRequestHandler):
        server_version = f"sandbox-{emulator.name}"
        sys_version = ""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                raw_body=raw_body,
            )
            _parse_body(request)
            response = emulator.handle(request)
            if response is None:
                self.close_connection = True
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            # The request log lives in emulator.requests; stderr stays quiet for test output.
            pass

    return EmulatorRequestHandler


def _parse_body(request: Request) -> None:
    if not request.raw_body.strip():
        return
    content_type = request.headers.get("content-type", "")
    if "form-urlencoded" in content_type:
        form = parse_qs(request.raw_body.decode("utf-8", errors="replace"))
        request.body = {key: values[-1] for key, values in form.items()}
        return
    try:
        request.body = json.loads(request.raw_body)
    except ValueError:
        request.body_is_valid_json = False
