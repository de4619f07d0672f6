"""Connection settings cannot make the hub reach private, loopback or metadata addresses.

Every setting that names a server (a cart's store URL, the WMS base URL, an outbound webhook
endpoint, an SFTP or FTP host) is tried with private (10/8, 172.16/12, 192.168/16), loopback
(127/8, ::1, `localhost`), link-local (169.254/16, fe80::/10) and cloud metadata addresses
(169.254.169.254, fd00:ec2::254), with non-HTTP schemes, and through a redirect. With the
demo and test allowance off, each is refused before any socket is opened: a listener on the
loopback gets no connection and no socket connect is even attempted.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.urls import reverse

from api.models import WebhookDelivery
from api.outbound import webhook_delivery_send, webhook_endpoint_create
from cartrover.adapters import AdapterError
from carts.adapters.bigcommerce.adapter import BigCommerceAdapter
from carts.adapters.shopify.adapter import ShopifyAdapter
from carts.adapters.woocommerce.adapter import WooCommerceAdapter
from carts.models import CartConnection
from tests import factories
from wms.adapters.extensiv.adapter import ExtensivAdapter
from wms.files.transports import transport_for

# Hosts as they appear in a URL; the SFTP/FTP host setting takes them without brackets.
NON_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "localhost",
    "[::1]",
    "10.0.0.8",
    "172.16.5.4",
    "172.31.255.254",
    "192.168.1.10",
    "169.254.169.254",
    "169.254.10.1",
    "[fe80::1]",
    "[fd00:ec2::254]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "0.0.0.0",  # noqa: S104 - a destination under test, nothing binds to it
]


@pytest.fixture(autouse=True)
def no_allowance(settings):
    """Production's stance: the demo and test allowance for private targets is off."""
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = False
    settings.HTTP_ALLOWED_NETWORKS = []
    return settings


@pytest.fixture
def listener() -> Iterator[Callable[[], int]]:
    """Listen on the loopback; yield a function that counts the connections it received."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    received = 0

    def connections() -> int:
        nonlocal received
        while True:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                return received
            conn.close()
            received += 1

    connections.port = sock.getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield connections
    finally:
        sock.close()


@pytest.fixture
def attempts(monkeypatch) -> list[Any]:
    """Record every socket connect the code under test attempts (and still make it)."""
    seen: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        seen.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def shopify(url: str) -> Callable[[], str]:
    adapter = ShopifyAdapter(
        credentials={"shop_url": url, "access_token": "shpat_x", "webhook_secret": "s"},
        setup={},
        connection_key="cart:ssrf",
    )
    return adapter.test_connection


def woocommerce(url: str) -> Callable[[], str]:
    adapter = WooCommerceAdapter(
        credentials={"store_url": url, "consumer_key": "ck_x", "consumer_secret": "cs_x"},
        setup={},
        connection_key="cart:ssrf",
    )
    return adapter.test_connection


def bigcommerce(url: str) -> Callable[[], str]:
    adapter = BigCommerceAdapter(
        credentials={"api_base": url, "store_hash": "abc123", "access_token": "tok"},
        setup={},
        connection_key="cart:ssrf",
    )
    return adapter.test_connection


def extensiv(url: str) -> Callable[[], str]:
    adapter = ExtensivAdapter(
        credentials={
            "client_id": "id",
            "client_secret": "secret",
            "user_login_id": "7",
            "tpl": "{0A1B2C3D-0000-0000-0000-000000000000}",
        },
        settings={"base_url": url},
        connection_key="wms:ssrf",
    )
    return adapter.test_connection


def webhook_endpoint(url: str) -> Callable[[], str]:
    merchant = factories.MerchantFactory(account=factories.AccountFactory(name="Hooks out"))
    endpoint, _ = webhook_endpoint_create(merchant=merchant, url=url)
    delivery = WebhookDelivery.objects.create(
        account=merchant.account, endpoint=endpoint, event="order.shipped", event_key="e-1"
    )

    def send() -> str:
        if not webhook_delivery_send(delivery):
            raise AdapterError(delivery.last_response, permanent=True)
        return "delivered"

    return send


HTTP_SETTINGS = {
    "shopify shop address": shopify,
    "woocommerce store URL": woocommerce,
    "bigcommerce API address": bigcommerce,
    "extensiv base URL": extensiv,
    "outbound webhook endpoint": webhook_endpoint,
}


@pytest.mark.django_db
@pytest.mark.parametrize("setting", sorted(HTTP_SETTINGS))
@pytest.mark.parametrize("host", NON_PUBLIC)
def test_http_settings_naming_a_non_public_address_are_refused_before_any_socket(
    setting, host, listener, attempts
):
    call = HTTP_SETTINGS[setting](f"http://{host}:{listener.port}/")

    with pytest.raises(AdapterError) as refused:
        call()

    assert attempts == [], f"a socket was opened for {host}: {attempts}"
    assert listener() == 0
    if host in ("127.0.0.1", "localhost", "169.254.169.254", "10.0.0.8"):
        assert "refused" in refused.value.message


@pytest.mark.django_db
@pytest.mark.parametrize("setting", sorted(HTTP_SETTINGS))
@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "gopher://127.0.0.1:{port}/_GET", "ftp://127.0.0.1:{port}/x.csv"],
)
def test_http_settings_with_other_schemes_are_refused_before_any_socket(
    setting, url, listener, attempts, no_allowance
):
    # Even with the allowance on, only http and https are spoken.
    no_allowance.ALLOW_PRIVATE_NETWORK_TARGETS = True
    call = HTTP_SETTINGS[setting](url.format(port=listener.port))

    with pytest.raises(AdapterError):
        call()

    assert attempts == [] and listener() == 0


class _Redirector(BaseHTTPRequestHandler):
    """Answer every request with a redirect to the cloud metadata service."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _redirect(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.hits += 1  # type: ignore[attr-defined]
        self.send_response(302)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/iam/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _redirect


@pytest.fixture
def redirector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    server.hits = 0  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.django_db
@pytest.mark.parametrize("setting", sorted(HTTP_SETTINGS))
def test_a_redirect_from_an_allowed_server_to_the_metadata_service_is_refused(
    setting, redirector, attempts, no_allowance
):
    no_allowance.HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    port = redirector.server_address[1]
    call = HTTP_SETTINGS[setting](f"http://127.0.0.1:{port}/")

    with pytest.raises(AdapterError) as refused:
        call()

    assert redirector.hits >= 1  # type: ignore[attr-defined]
    assert all(address[0] == "127.0.0.1" for address in attempts), attempts
    if setting == "outbound webhook endpoint":
        # Deliveries never follow redirects: a 3xx is a failed attempt, retried later.
        assert WebhookDelivery.objects.get().last_status == 302
    else:
        assert "169.254.169.254" in refused.value.message


def host_key_line() -> str:
    """Return a saved host key as the connection setup keeps it (the server's is not read)."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["sftp", "ftp"])
@pytest.mark.parametrize("host", NON_PUBLIC)
def test_file_servers_on_non_public_addresses_are_refused_before_any_socket(
    kind, host, listener, attempts
):
    setup = {"transport": kind, "host": host.strip("[]"), "port": listener.port, "username": "u"}
    if kind == "sftp":
        setup["host_key"] = host_key_line()
    transport = transport_for(setup, {"password": "p"}, "wms:ssrf")

    with pytest.raises(AdapterError) as refused:
        transport.test()

    assert attempts == [] and listener() == 0
    if host in ("127.0.0.1", "localhost", "169.254.169.254", "192.168.1.10"):
        assert "refused" in refused.value.message


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "localhost"])
def test_testing_a_cart_pointed_at_a_private_address_shows_a_clear_error(
    host, client, world, listener, attempts
):
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="shopify",
        order_source="Shopify",
        credentials={
            "shop_url": f"http://{host}:{listener.port}",
            "access_token": "shpat_x",
            "webhook_secret": "s",
        },
    )
    client.force_login(world.staff)

    response = client.post(reverse("cart_test", args=[cart.pk]), follow=True)

    page = response.content.decode()
    assert "refused to connect to" in page
    assert "HTTP_ALLOWED_NETWORKS" in page
    assert attempts == [] and listener() == 0


@pytest.mark.django_db
def test_testing_a_wms_pointed_at_the_metadata_service_shows_a_clear_error(
    client, world, listener, attempts
):
    from wms.models import WmsConfig

    WmsConfig.objects.create(
        account=world.account,
        kind="extensiv",
        credentials={
            "client_id": "id",
            "client_secret": "secret",
            "user_login_id": "7",
            "tpl": "{0A1B2C3D-0000-0000-0000-000000000000}",
        },
        settings={"base_url": "http://169.254.169.254/latest/meta-data/"},
    )
    client.force_login(world.admin)

    response = client.post(reverse("wms_test"), follow=True)

    page = response.content.decode()
    assert "refused to connect to 169.254.169.254" in page
    assert "link-local" in page
    assert attempts == []
