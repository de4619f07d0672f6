"""Rotating the encryption key keeps every connection working.

Carts of each platform kind, an Extensiv WMS and a CSV-file WMS over SFTP are connected to
their emulators with secrets written under the old key. The operator puts a new key first in
FIELD_ENCRYPTION_KEYS, runs `manage.py rotate_encryption_keys`, then drops the old key: every
connection still passes its connection test, and every stored ciphertext was rewritten under
the new key.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from api.models import WebhookEndpoint
from api.outbound import webhook_endpoint_create
from cartrover import crypto
from carts.models import CartConnection
from carts.services import cart_test_connection
from sandbox.bigcommerce import BigCommerceEmulator
from sandbox.extensiv import ExtensivEmulator
from sandbox.sftp_server import SftpEmulator
from sandbox.shopify import ShopifyEmulator
from sandbox.woocommerce import WooCommerceEmulator
from tests import factories
from wms.models import WmsConfig
from wms.services import wms_test_connection

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SFTP_USER = "hub-rotation"
SFTP_PASSWORD = "Sftp-rotation-Pa55-4411"
WEBHOOK_SECRET = "whsec-rotation-0123456789"
FOLDERS = [f"m1/{name}" for name in ("in", "out", "archive", "errors")]


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[dict[str, Any]]:
    sftp = SftpEmulator(tmp_path / "sftp")
    sftp.add_user(SFTP_USER, password=SFTP_PASSWORD, folders=FOLDERS)
    with ExitStack() as stack:
        yield {
            "shopify": stack.enter_context(ShopifyEmulator()),
            "woocommerce": stack.enter_context(WooCommerceEmulator()),
            "bigcommerce": stack.enter_context(BigCommerceEmulator()),
            "extensiv": stack.enter_context(ExtensivEmulator()),
            "sftp": stack.enter_context(sftp),
        }


def cart_credentials(kind: str, site: Any) -> dict[str, str]:
    if kind == "shopify":
        return {
            "shop_url": site.base_url,
            "access_token": site.access_token,
            "webhook_secret": site.client_secret,
        }
    if kind == "woocommerce":
        return {
            "store_url": site.base_url,
            "consumer_key": site.consumer_key,
            "consumer_secret": site.consumer_secret,
            "webhook_secret": WEBHOOK_SECRET,
        }
    return {
        "api_base": site.base_url,
        "store_hash": site.store_hash,
        "access_token": site.access_token,
        "webhook_secret": WEBHOOK_SECRET,
    }


@pytest.fixture
def keys(settings) -> tuple[str, str]:
    """Return (old, new) keys; the hub runs on the old one until the test rotates."""
    old, new = crypto.new_key(), crypto.new_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    return old, new


@pytest.fixture
def connections(keys, emulators) -> dict[str, Any]:
    """Connect a cart of each platform and two WMSes (one per account) to the emulators."""
    north = factories.AccountFactory(name="North")
    south = factories.AccountFactory(name="South")
    merchant = factories.MerchantFactory(account=north, name="North shop")
    south_merchant = factories.MerchantFactory(
        account=south, name="South shop", wms_settings={"folder": "m1"}
    )
    carts = {
        kind: CartConnection.objects.create(
            account=north,
            merchant=merchant,
            kind=kind,
            order_source=f"{kind} store",
            credentials=cart_credentials(kind, emulators[kind]),
        )
        for kind in ("shopify", "woocommerce", "bigcommerce")
    }
    extensiv = emulators["extensiv"]
    sftp = emulators["sftp"]
    wmses = {
        "extensiv": WmsConfig.objects.create(
            account=north,
            kind="extensiv",
            credentials=extensiv.credentials(),
            settings={"base_url": extensiv.base_url, "facility_id": 3},
        ),
        "csv_file over sftp": WmsConfig.objects.create(
            account=south,
            kind="csv_file",
            credentials={"password": SFTP_PASSWORD},
            settings={
                "transport": "sftp",
                "host": sftp.host,
                "port": sftp.port,
                "username": SFTP_USER,
                "root": "/",
                "host_key": sftp.host_key_line(),
            },
        ),
    }
    endpoint, _ = webhook_endpoint_create(merchant=south_merchant, url="https://example.com/in")
    return {"carts": carts, "wmses": wmses, "endpoint": endpoint}


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def ciphertexts(connections: dict[str, Any]) -> dict[str, str]:
    found = {
        f"cart {kind}": stored("carts_cartconnection", "credentials", cart.pk)
        for kind, cart in connections["carts"].items()
    }
    for name, config in connections["wmses"].items():
        found[f"wms {name}"] = stored("wms_wmsconfig", "credentials", config.pk)
    found["webhook endpoint"] = stored("api_webhookendpoint", "secret", connections["endpoint"].pk)
    return found


def connection_tests() -> dict[str, tuple[bool, str]]:
    """Test every connection as read back from the database now."""
    results = {
        f"cart {cart.kind}": cart_test_connection(cart)
        for cart in CartConnection.objects.order_by("pk")
    }
    for config in WmsConfig.objects.order_by("pk"):
        name = "csv_file over sftp" if config.kind == "csv_file" else config.kind
        results[f"wms {name}"] = wms_test_connection(config)
    return results


def test_after_rotation_and_dropping_the_old_key_every_connection_still_works(
    connections, keys, settings
):
    old, new = keys
    before = ciphertexts(connections)
    names = ["cart shopify", "cart woocommerce", "cart bigcommerce", "wms extensiv"]
    names.append("wms csv_file over sftp")
    assert {name: ok for name, (ok, _) in connection_tests().items()} == dict.fromkeys(names, True)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "carts.CartConnection.credentials: 3 re-encrypted" in out.getvalue()
    assert "wms.WmsConfig.credentials: 2 re-encrypted" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new]

    results = connection_tests()
    assert [name for name, (ok, _) in results.items() if not ok] == [], results
    assert len(results) == 5
    after = ciphertexts(connections)
    for name, token in after.items():
        assert token != before[name], name
        Fernet(new.encode()).decrypt(token.encode())  # written with the new key
        with pytest.raises(InvalidToken):
            Fernet(old.encode()).decrypt(token.encode())
    endpoint = WebhookEndpoint.objects.get(pk=connections["endpoint"].pk)
    assert len(endpoint.secret["secret"]) >= 32


def test_dropping_the_old_key_without_rotating_names_the_setting(connections, keys, settings):
    """The rotation is what makes the old key unnecessary: without it nothing can be read."""
    settings.FIELD_ENCRYPTION_KEYS = [keys[1]]
    with pytest.raises(crypto.DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        list(CartConnection.objects.all())
