"""What a newcomer needs to find their way around the demo: its logins and its emulated systems.

Shown on the login page while the demo runs (settings.DEMO, which `make run` sets) and printed
in the banner `make run` ends with. Nothing here is used outside the demo.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class DemoLogin:
    """One login of the demo account."""

    role: str
    email: str
    password: str


@dataclass(frozen=True)
class DemoSystem:
    """One emulated shop or warehouse of the demo, with what connecting to it takes."""

    name: str
    url: str
    credentials: dict[str, str]


def demo_logins() -> list[DemoLogin]:
    """Return the demo's logins, or nothing when the demo is off or not seeded."""
    if not settings.DEMO:
        return []
    from cartrover.management.commands.seed_demo import (
        ADMIN_EMAIL,
        MERCHANT_EMAIL,
        demo_password,
    )
    from merchants.models import User

    if not User.objects.filter(email=ADMIN_EMAIL).exists():
        return []
    password = demo_password()
    return [
        DemoLogin("Staff (account admin)", ADMIN_EMAIL, password),
        DemoLogin("Merchant user (Acme Outdoor)", MERCHANT_EMAIL, password),
    ]


def demo_systems() -> list[DemoSystem]:
    """Return the demo's emulated shops and warehouse with their credentials."""
    from sandbox.demo import SHOPS, warehouse_connection

    systems = [
        DemoSystem(
            f"{shop.label} shop of {shop.merchant}",
            shop.base_url,
            {k: str(v) for k, v in shop.cart_credentials().items() if not k.endswith("_url")},
        )
        for shop in SHOPS
    ]
    warehouse = warehouse_connection()
    systems.append(
        DemoSystem(
            "Extensiv warehouse",
            warehouse["settings"]["base_url"],
            {k: str(v) for k, v in warehouse["credentials"].items()},
        )
    )
    return systems
