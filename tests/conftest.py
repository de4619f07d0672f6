"""Suite-wide set-up: real services when configured, and two tenants for every test.

When DATABASE_URL or CELERY_BROKER_URL point at servers, they must answer: the run stops with
an error instead of skipping. With REQUIRE_SERVICES=1 (CI), both must also be set.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest

from tests import factories
from tests.hub import Hub, make_cart
from wms.models import WmsConfig, WmsShipMethod

pytest_plugins = ["tests.secret_scan"]


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    problems = []
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if os.environ.get("REQUIRE_SERVICES") == "1":
        if not database_url.startswith(("postgres://", "postgresql://")):
            problems.append("REQUIRE_SERVICES=1 but DATABASE_URL is not a PostgreSQL URL")
        if not broker_url.startswith("redis://"):
            problems.append("REQUIRE_SERVICES=1 but CELERY_BROKER_URL is not a Redis URL")
    if database_url.startswith(("postgres://", "postgresql://")) and not _reachable(
        database_url, 5432
    ):
        problems.append(
            f"PostgreSQL at DATABASE_URL is unreachable ({urlparse(database_url).hostname})"
        )
    if broker_url.startswith("redis://") and not _reachable(broker_url, 6379):
        problems.append(
            f"Redis at CELERY_BROKER_URL is unreachable ({urlparse(broker_url).hostname})"
        )
    if problems:
        raise pytest.UsageError("; ".join(problems))


@dataclass
class TenantWorld:
    """One account as the tests see it: merchants and a user of every role."""

    account: object
    merchant_a: object
    merchant_b: object
    admin: object
    staff: object
    merchant_user_a: object
    merchant_user_b: object


def _world(name: str) -> TenantWorld:
    account = factories.AccountFactory(name=name)
    merchant_a = factories.MerchantFactory(account=account, name=f"{name} Merchant A")
    merchant_b = factories.MerchantFactory(account=account, name=f"{name} Merchant B")
    return TenantWorld(
        account=account,
        merchant_a=merchant_a,
        merchant_b=merchant_b,
        admin=factories.member(account, "admin"),
        staff=factories.member(account, "staff"),
        merchant_user_a=factories.member(account, "merchant", merchant_a),
        merchant_user_b=factories.member(account, "merchant", merchant_b),
    )


@pytest.fixture
def world(db) -> TenantWorld:
    """The first account: two merchants, users of every role."""
    return _world("North")


@pytest.fixture
def other_world(db) -> TenantWorld:
    """A second account, built the same way, that `world`'s users must never see."""
    return _world("South")


@pytest.fixture
def hub(world, tmp_path) -> Hub:
    """The first account with the sandbox warehouse and a six-order sandbox store."""
    wms = WmsConfig.objects.create(
        account=world.account,
        kind="dummy",
        credentials={"api_key": "wms-key"},
        settings={"name": f"wh{world.account.pk}", "ledger_dir": str(tmp_path)},
    )
    for code, carrier in (("GROUND", "UPS"), ("EXPRESS", "FedEx")):
        WmsShipMethod.objects.create(account=world.account, code=code, carrier=carrier)
    cart = make_cart(world.merchant_a, tmp_path, order_count=6, page_size=4)
    return Hub(world=world, wms=wms, cart=cart, ledger_dir=tmp_path)
