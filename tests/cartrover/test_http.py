"""The outbound HTTP client against real local servers on 127.0.0.1 and 127.0.0.2.

Nothing here reaches beyond the loopback: names that must resolve elsewhere go through a
patched `socket.getaddrinfo`, and every socket connect is checked to stay on 127.0.0.1/2.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured

from cartrover.adapters import AdapterError, AuthError, RateLimited, TransientError
from cartrover.http import (
    DEFAULT_RETRY_AFTER,
    BlockedDestination,
    HttpClient,
    RateLimiter,
    address_refusal,
    parse_retry_after,
    shared_limiter,
)

LOOPBACK = {"127.0.0.1", "127.0.0.2"}
TOKEN = "shpat_a1b2c3d4e5f60718293a"


# --- Local servers ----------------------------------------------------------------------------


class Recorder(ThreadingHTTPServer):
    """An HTTP server that records every request it receives and answers by path."""

    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), Handler)
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def paths(self) -> list[str]:
        with self.lock:
            return [request["path"] for request in self.received]


class Handler(BaseHTTPRequestHandler):
    """Answer by path: /ok, /status/<code>, /echo/<code>, /redirect, /loop, /hang, /long."""

    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_any(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.received.append(
                {
                    "method": self.command,
                    "path": url.path,
                    "query": query,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
        parts = url.path.strip("/").split("/")
        if parts[0] == "ok":
            self.answer(200, b'{"ok": true}')
        elif parts[0] == "status":
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self.answer(int(parts[1]), query.get("body", "nope").encode(), headers)
        elif parts[0] == "echo":
            echoed = {"path": self.path, "headers": dict(self.headers)}
            self.answer(int(parts[1]), json.dumps(echoed).encode())
        elif parts[0] == "redirect":
            self.answer(int(query.get("code", "302")), b"", {"Location": query["to"]})
        elif parts[0] == "loop":
            self.answer(302, b"", {"Location": "/loop"})
        elif parts[0] == "hang":
            self.server.release.wait(10)
        elif parts[0] == "long":
            self.answer(404, b"x" * 5000)
        else:
            self.answer(404, b"no such route")

    do_GET = do_POST = do_PUT = handle_any

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(host: str) -> Iterator[Recorder]:
    server = Recorder(host)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Recorder]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def other_server() -> Iterator[Recorder]:
    yield from _serve("127.0.0.2")


@pytest.fixture(autouse=True)
def only_loopback_connections(monkeypatch):
    """Fail any test whose code tries to connect anywhere but 127.0.0.1/127.0.0.2."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        assert host in LOOPBACK, f"a test tried to connect to {address!r}"
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def outbound(settings):
    """Reach the local servers by default; tests about refusals switch this off."""
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    settings.HTTP_ALLOWED_NETWORKS = []
    return settings


@pytest.fixture
def resolve(monkeypatch) -> dict[str, Callable[[], list[str]]]:
    """Map fake host names to addresses; every other name resolves as usual."""
    table: dict[str, Callable[[], list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, *args: Any) -> Any:
        if host not in table:
            return real(host, port, family, type, *args)
        infos = []
        for address in table[host]():
            if ipaddress.ip_address(address).version == 6:
                infos.append(
                    (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port), 0, 0))
                )
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port))))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


class FakeClock:
    """A monotonic clock and sleep that only move when told, so no test waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Timeouts and network failures ------------------------------------------------------------


def test_server_that_never_answers_raises_transient_error_naming_connection_and_host(server):
    client = HttpClient(name="wms:3", base_url=f"{server.url}/", timeout=(1, 0.2))

    with pytest.raises(TransientError) as caught:
        client.get("hang")

    assert "wms:3" in caught.value.message
    assert "127.0.0.1" in caught.value.message
    assert caught.value.permanent is False


def test_refused_connection_raises_transient_error_naming_connection_and_host():
    client = HttpClient(name="wms:3", base_url=f"http://127.0.0.1:{_closed_port()}/")

    with pytest.raises(TransientError) as caught:
        client.get("ok")

    assert "wms:3" in caught.value.message
    assert "could not reach 127.0.0.1" in caught.value.message


@pytest.mark.parametrize("timeout", [None, (0, 5), (5, float("inf")), 5])
def test_a_client_without_a_finite_timeout_cannot_be_built(timeout):
    with pytest.raises(ValueError, match="timeout"):
        HttpClient(name="wms:3", timeout=timeout)


# --- Status mapping ---------------------------------------------------------------------------


def test_401_raises_auth_error_saying_the_host_refused_the_credentials(server):
    client = HttpClient(name="shopify:42", base_url=f"{server.url}/")

    with pytest.raises(AuthError) as caught:
        client.get("status/401", params={"body": "Invalid API key or access token"})

    message = caught.value.message
    assert "shopify:42" in message
    assert "credentials were refused by 127.0.0.1" in message
    assert "Invalid API key or access token" in message
    assert caught.value.permanent is True


def test_403_raises_auth_error_saying_the_host_refused_the_permission(server):
    client = HttpClient(name="shopify:42", base_url=f"{server.url}/")

    with pytest.raises(AuthError) as caught:
        client.get("status/403", params={"body": "read_orders scope missing"})

    assert "permission was refused by 127.0.0.1" in caught.value.message
    assert "read_orders scope missing" in caught.value.message


def test_429_raises_rate_limited_and_the_server_is_not_asked_again_before_retry_after(server):
    clock = FakeClock()
    limiter = RateLimiter("shopify:42", clock=clock, sleep=clock.sleep)
    client = HttpClient(name="shopify:42", base_url=f"{server.url}/", limiter=limiter)

    with pytest.raises(RateLimited) as first:
        client.get("status/429", params={"retry_after": "1.5"})
    clock.now += 1.0
    with pytest.raises(RateLimited) as second:
        client.get("ok")
    sent_while_blocked = server.paths()
    clock.now += 0.6
    client.get("ok")

    assert first.value.retry_after == 1.5
    assert second.value.retry_after == pytest.approx(0.5)
    assert "nothing was sent" in second.value.message
    assert sent_while_blocked == ["/status/429"]
    assert server.paths() == ["/status/429", "/ok"]


def test_429_blocks_later_requests_also_without_an_explicit_limiter(server):
    client = HttpClient(name="shopify:42", base_url=f"{server.url}/")

    with pytest.raises(RateLimited):
        client.get("status/429", params={"retry_after": "30"})
    with pytest.raises(RateLimited):
        client.get("ok")

    assert server.paths() == ["/status/429"]


def test_429_with_an_http_date_retry_after_waits_until_that_date(server):
    client = HttpClient(name="shopify:42", base_url=f"{server.url}/")
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)

    with pytest.raises(RateLimited) as caught:
        client.get("status/429", params={"retry_after": when})

    assert 60 < caught.value.retry_after <= 120


def test_429_without_retry_after_waits_the_default(server):
    client = HttpClient(name="shopify:42", base_url=f"{server.url}/")

    with pytest.raises(RateLimited) as caught:
        client.get("status/429")

    assert caught.value.retry_after == DEFAULT_RETRY_AFTER


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("2.0", 2.0), ("0", 0.0), ("-3", 0.0), ("soon", 10.0), ("nan", 10.0), ("1e12", 3600.0)],
)
def test_retry_after_values_are_read_as_bounded_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_raise_transient_error(server, status):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/")

    with pytest.raises(TransientError) as caught:
        client.get(f"status/{status}")

    assert f"HTTP {status}" in caught.value.message
    assert caught.value.permanent is False


def test_404_raises_a_permanent_error_with_status_and_a_short_body_snippet(server):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/")

    with pytest.raises(AdapterError) as caught:
        client.get("long")

    assert caught.value.permanent is True
    assert type(caught.value) is AdapterError
    assert "HTTP 404" in caught.value.message
    assert "xxxx" in caught.value.message
    assert len(caught.value.message) < 400


def test_allowed_statuses_are_returned_instead_of_raised(server):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/")

    response = client.get("status/404", allow=(404,))

    assert response.status_code == 404
    assert response.text == "nope"


def test_relative_paths_join_the_base_url(server):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/status/")

    response = client.post("201", json={"a": 1}, params={"body": "made"})

    assert response.status_code == 201
    assert server.received[0]["method"] == "POST"
    assert server.received[0]["body"] == b'{"a": 1}'


# --- Destination safety -----------------------------------------------------------------------


def test_loopback_is_refused_when_private_targets_are_off_and_nothing_is_sent(outbound, server):
    outbound.ALLOW_PRIVATE_NETWORK_TARGETS = False
    client = HttpClient(name="wms:3", base_url=f"{server.url}/")

    with pytest.raises(BlockedDestination) as caught:
        client.get("ok")

    assert caught.value.permanent is True
    assert "wms:3" in caught.value.message
    assert "loopback" in caught.value.message
    assert "HTTP_ALLOWED_NETWORKS" in caught.value.message
    assert server.received == []


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], ["169.254.169.254"], ["::ffff:169.254.169.254"], ["93.184.215.14", "10.0.0.5"]],
)
def test_a_name_resolving_to_any_private_address_is_refused(outbound, resolve, addresses):
    outbound.ALLOW_PRIVATE_NETWORK_TARGETS = False
    resolve["wms.customer.test"] = lambda: addresses
    client = HttpClient(name="wms:3", base_url="http://wms.customer.test/")

    with pytest.raises(BlockedDestination) as caught:
        client.get("orders")

    assert "wms.customer.test" in caught.value.message


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_at_connect(
    outbound, resolve, server
):
    outbound.ALLOW_PRIVATE_NETWORK_TARGETS = False
    answers = iter([["93.184.215.14"]])
    resolve["rebind.test"] = lambda: next(answers, ["127.0.0.1"])
    client = HttpClient(name="wms:3", base_url=f"http://rebind.test:{server.port}/")

    with pytest.raises(BlockedDestination) as caught:
        client.get("ok")

    assert "wms:3" in caught.value.message
    assert "127.0.0.1" in caught.value.message
    assert server.received == []


def test_allowed_networks_admit_their_address_but_not_a_redirect_outside_them(
    outbound, server, other_server
):
    outbound.ALLOW_PRIVATE_NETWORK_TARGETS = False
    outbound.HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    client = HttpClient(name="wms:3", base_url=f"{server.url}/")

    ok = client.get("ok")
    with pytest.raises(BlockedDestination) as caught:
        client.get("redirect", params={"to": f"{other_server.url}/ok"})

    assert ok.status_code == 200
    assert "127.0.0.2" in caught.value.message
    assert server.paths() == ["/ok", "/redirect"]
    assert other_server.received == []


def test_a_malformed_allowed_network_stops_the_request_naming_the_setting(outbound, server):
    outbound.ALLOW_PRIVATE_NETWORK_TARGETS = False
    outbound.HTTP_ALLOWED_NETWORKS = ["warehouse-lan"]
    client = HttpClient(name="wms:3", base_url=f"{server.url}/")

    with pytest.raises(ImproperlyConfigured, match="HTTP_ALLOWED_NETWORKS"):
        client.get("ok")

    assert server.received == []


@pytest.mark.parametrize("scheme", ["file", "ftp", "gopher"])
def test_urls_other_than_http_and_https_are_refused(server, scheme):
    client = HttpClient(name="wms:3")

    with pytest.raises(BlockedDestination) as caught:
        client.get(f"{scheme}://127.0.0.1:{server.port}/etc/passwd")

    assert "only http and https" in caught.value.message
    assert server.received == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/ok", "http:///ok"])
def test_a_url_without_a_usable_host_or_port_is_a_permanent_error(url):
    client = HttpClient(name="wms:3")

    with pytest.raises(AdapterError) as caught:
        client.get(url)

    assert caught.value.permanent is True
    assert "wms:3" in caught.value.message


def test_a_redirect_to_a_file_url_is_refused(server):
    client = HttpClient(name="wms:3", base_url=f"{server.url}/")

    with pytest.raises(BlockedDestination):
        client.get("redirect", params={"to": "file:///etc/passwd"})


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 (an address to refuse, not one to bind)
        "224.0.0.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.5",
        "64:ff9b::a00:5",
        "2002:a00:5::1",
    ],
)
def test_non_public_addresses_are_refused_without_the_settings(outbound, address):
    outbound.ALLOW_PRIVATE_NETWORK_TARGETS = False

    assert address_refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_are_allowed(outbound, address):
    outbound.ALLOW_PRIVATE_NETWORK_TARGETS = False

    assert address_refusal(address) is None


# --- Redirects --------------------------------------------------------------------------------


def test_a_same_host_redirect_keeps_the_credentials(server):
    client = HttpClient(
        name="shopify:42",
        base_url=f"{server.url}/",
        headers={"X-Shopify-Access-Token": TOKEN},
        secrets=[TOKEN],
    )

    response = client.get("redirect", params={"to": "/echo/200"})

    assert response.status_code == 200
    assert server.received[1]["headers"]["X-Shopify-Access-Token"] == TOKEN


def test_a_redirect_to_another_host_drops_the_credentials(server, other_server):
    client = HttpClient(
        name="shopify:42",
        base_url=f"{server.url}/",
        headers={"X-Shopify-Access-Token": TOKEN, "Authorization": f"Bearer {TOKEN}"},
        secrets=[TOKEN],
    )

    response = client.get("redirect", params={"to": f"{other_server.url}/echo/200"})

    assert response.status_code == 200
    assert server.received[0]["headers"]["X-Shopify-Access-Token"] == TOKEN
    arrived = other_server.received[0]["headers"]
    assert "Authorization" not in arrived
    assert "X-Shopify-Access-Token" not in arrived
    assert TOKEN not in json.dumps(other_server.received[0], default=str)


def test_an_absolute_url_on_another_host_gets_no_credentials(server, other_server):
    client = HttpClient(
        name="shopify:42",
        base_url=f"{server.url}/",
        headers={"X-Shopify-Access-Token": TOKEN},
        secrets=[TOKEN],
    )

    client.get(f"{other_server.url}/echo/200", params={"access_token": TOKEN, "page": "2"})

    assert TOKEN not in json.dumps(other_server.received[0], default=str)
    assert other_server.received[0]["query"] == {"page": "2"}


def test_a_post_redirected_with_303_is_followed_as_a_get_without_body(server):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/")

    response = client.post("redirect", params={"to": "/ok", "code": "303"}, json={"a": 1})

    assert response.status_code == 200
    assert [(r["method"], r["path"], r["body"]) for r in server.received] == [
        ("POST", "/redirect", b'{"a": 1}'),
        ("GET", "/ok", b""),
    ]


def test_a_body_is_not_resent_to_another_host_on_a_307(server, other_server):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/")

    with pytest.raises(AdapterError) as caught:
        client.post("redirect", params={"to": f"{other_server.url}/ok", "code": "307"}, json={})

    assert caught.value.permanent is True
    assert other_server.received == []


def test_more_than_five_redirects_are_refused(server):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/")

    with pytest.raises(AdapterError) as caught:
        client.get("loop")

    assert caught.value.permanent is True
    assert "redirects" in caught.value.message
    assert len(server.received) == 6


def test_a_redirect_in_allow_is_returned_not_followed(server):
    client = HttpClient(name="woo:5", base_url=f"{server.url}/")

    response = client.get("redirect", params={"to": "/ok"}, allow=(302,))

    assert response.status_code == 302
    assert server.paths() == ["/redirect"]


# --- Secrets and logging ----------------------------------------------------------------------


def test_secrets_never_appear_in_log_lines_errors_or_repr(server, caplog):
    bearer = "bearer-value-0987654321"
    client = HttpClient(
        name="shopify:42",
        base_url=f"{server.url}/",
        headers={"X-Shopify-Access-Token": TOKEN, "Authorization": f"Bearer {bearer}"},
        secrets=[TOKEN],
    )
    caplog.set_level(logging.INFO, logger="cartrover.http")

    with pytest.raises(AuthError) as caught:
        client.get("echo/401", params={"access_token": TOKEN, "signature": "sig-1234567890"})

    echoed = server.received[0]
    assert echoed["headers"]["X-Shopify-Access-Token"] == TOKEN
    assert echoed["query"]["access_token"] == TOKEN
    for secret in (TOKEN, bearer, "sig-1234567890"):
        assert secret not in caplog.text
        assert secret not in str(caught.value)
        assert secret not in repr(client)
    assert "access_token=***" in caplog.text


def test_a_network_error_message_does_not_carry_the_query_token():
    client = HttpClient(name="woo:5", base_url=f"http://127.0.0.1:{_closed_port()}/")

    with pytest.raises(TransientError) as caught:
        client.get("orders", params={"consumer_secret": TOKEN})

    assert TOKEN not in str(caught.value)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


def test_each_request_logs_one_info_line_with_method_url_status_time_and_connection(server, caplog):
    client = HttpClient(name="shopify:42", base_url=f"{server.url}/")
    caplog.set_level(logging.INFO, logger="cartrover.http")

    client.get("ok", params={"page": "2"})

    records = [r for r in caplog.records if r.name == "cartrover.http"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    message = records[0].getMessage()
    assert message.startswith(f"GET {server.url}/ok?page=2 -> 200 (")
    assert message.endswith(" ms) [shopify:42]")


# --- Rate limiter -----------------------------------------------------------------------------


def test_a_full_bucket_lets_capacity_requests_through_then_paces_at_the_rate():
    clock = FakeClock()
    limiter = RateLimiter("shopify:42", capacity=3, rate=2, clock=clock, sleep=clock.sleep)

    for _ in range(4):
        limiter.acquire()

    assert clock.slept == [pytest.approx(0.5)]


def test_observing_a_nearly_full_shopify_bucket_makes_the_next_acquire_wait():
    clock = FakeClock()
    limiter = RateLimiter("shopify:42", capacity=40, rate=2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    call_limit = "39/40"  # X-Shopify-Shop-Api-Call-Limit: used/limit
    used, limit = (int(part) for part in call_limit.split("/"))

    limiter.observe(remaining=limit - used, limit=limit)
    limiter.acquire()

    assert clock.slept == [pytest.approx(0.5)]


def test_observing_an_exhausted_window_waits_for_its_reset():
    clock = FakeClock()
    limiter = RateLimiter("bigcommerce:9", capacity=150, rate=5, clock=clock, sleep=clock.sleep)

    limiter.observe(remaining=0, limit=150, reset_in=3.0)
    limiter.acquire()

    assert clock.slept[0] >= 3.0


def test_a_wait_longer_than_max_wait_raises_rate_limited_without_sleeping():
    clock = FakeClock()
    limiter = RateLimiter(
        "shopify:42", capacity=1, rate=0.1, max_wait=5, clock=clock, sleep=clock.sleep
    )
    limiter.acquire()

    with pytest.raises(RateLimited) as caught:
        limiter.acquire()

    assert caught.value.retry_after == pytest.approx(10)
    assert clock.slept == []


def test_block_for_refuses_until_the_deadline_then_allows_one_request_at_a_time():
    clock = FakeClock()
    limiter = RateLimiter("shopify:42", capacity=40, rate=2, clock=clock, sleep=clock.sleep)

    limiter.block_for(4)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire()
    clock.now += 4
    limiter.acquire()
    limiter.acquire()

    assert caught.value.retry_after == pytest.approx(4)
    assert clock.slept == [pytest.approx(0.5)]


def test_concurrent_acquires_never_exceed_the_bucket():
    def never_sleep(seconds: float) -> None:
        raise AssertionError("max_wait=0 must not sleep")

    limiter = RateLimiter(
        "shopify:42", capacity=10, rate=0.001, max_wait=0, clock=lambda: 0.0, sleep=never_sleep
    )
    outcomes: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            limiter.acquire()
            result = True
        except RateLimited:
            result = False
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count(True) == 10


def test_clients_of_one_connection_share_one_limiter():
    first = shared_limiter("test-http:shared", capacity=40, rate=2)
    second = shared_limiter("test-http:shared", capacity=99, rate=9)
    other = shared_limiter("test-http:other", capacity=40, rate=2)

    assert first is second
    assert second.capacity == 40
    assert other is not first


def test_the_client_waits_for_its_limiter_and_sends_nothing_when_refused(server):
    limiter = RateLimiter("woo:5", capacity=1, rate=0.001, max_wait=0)
    client = HttpClient(name="woo:5", base_url=f"{server.url}/", limiter=limiter)

    client.get("ok")
    with pytest.raises(RateLimited):
        client.get("ok")

    assert server.paths() == ["/ok"]
