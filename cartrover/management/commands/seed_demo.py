"""Create the demo account and its logins once; print how to log in."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from carts.models import CartConnection
from merchants.models import Account, Merchant, Role, User
from merchants.services import account_create, membership_grant, merchant_create
from orders.models import ShipMethodMapping
from wms.models import Warehouse, WmsConfig, WmsShipMethod

# Cart ship codes of the demo shops and the WMS ship method each maps to. The shops also send
# codes no one has mapped yet, so orders are held until someone maps them on the Holds page.
MAPPED_CODES = {
    "standard": "GROUND",
    "free_shipping": "GROUND",
    "ups_ground": "GROUND",
    "express": "2DAY",
    "usps_priority": "PRIORITY",
}
WMS_METHODS = [
    ("GROUND", "Ground", "UPS"),
    ("2DAY", "2Day", "FedEx"),
    ("PRIORITY", "Priority Mail", "USPS"),
]

ADMIN_EMAIL = "admin@demo.example"
MERCHANT_EMAIL = "merchant@demo.example"
ACCOUNT_NAME = "Demo Fulfillment"


def demo_password() -> str:
    """Return the demo password, generated once into var/ so it survives restarts."""
    path = settings.VAR_DIR / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create the demo account, merchants and logins if they do not exist, and print them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="URL to print.")
        parser.add_argument(
            "--no-sandbox",
            dest="sandbox",
            action="store_false",
            help="Create the account and logins only, without the emulated shops and warehouse.",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        password = demo_password()
        account = Account.objects.filter(name=ACCOUNT_NAME).first()
        if account is None:
            account = account_create(name=ACCOUNT_NAME, time_zone="America/New_York")
            first = merchant_create(account=account, name="Acme Outdoor")
            merchant_create(account=account, name="Blue Harbor Tea")
            admin = User.objects.create_superuser(ADMIN_EMAIL, password, name="Demo Admin")
            membership_grant(user=admin, account=account, role=Role.ADMIN)
            merchant_user = User.objects.create_user(MERCHANT_EMAIL, password, name="Acme Outdoor")
            membership_grant(
                user=merchant_user, account=account, role=Role.MERCHANT, merchant=first
            )
            if options["sandbox"]:
                self._connect_sandbox(account)
            self.stdout.write("Demo account created.")
        url = options["url"]
        if options["sandbox"] and not WmsConfig.objects.filter(account=account).exists():
            self._connect_sandbox(account)
        self.stdout.write(
            f"\n  Order hub: {url}\n"
            f"  Staff login:    {ADMIN_EMAIL} / {password}\n"
            f"  Merchant login: {MERCHANT_EMAIL} / {password}\n"
        )

    def _connect_sandbox(self, account: Account) -> None:
        """Connect the account to the demo's emulated warehouse and each merchant's shops."""
        from sandbox.demo import FACILITY_ID, SHOPS, warehouse_connection

        wms = warehouse_connection()
        WmsConfig.objects.create(account=account, kind="extensiv", **wms)
        Warehouse.objects.create(account=account, code=str(FACILITY_ID), name="Main warehouse")
        methods = {
            code: WmsShipMethod.objects.create(
                account=account, code=code, description=description, carrier=carrier
            )
            for code, description, carrier in WMS_METHODS
        }
        for spec in SHOPS:
            merchant = Merchant.objects.get(account=account, name=spec.merchant)
            if merchant.wms_settings.get("customer_id") != spec.customer_id:
                merchant.wms_settings = {"customer_id": spec.customer_id}
                merchant.save()
                for cart_code, method in MAPPED_CODES.items():
                    ShipMethodMapping.objects.get_or_create(
                        account=account,
                        merchant=merchant,
                        cart_code=cart_code,
                        defaults={"ship_method": methods[method]},
                    )
            CartConnection.objects.create(
                account=account,
                merchant=merchant,
                kind=spec.kind,
                order_source=f"{spec.label} ({spec.merchant})",
                description=f"Emulated {spec.label} shop on port {spec.port}",
                credentials=spec.cart_credentials(),
                reject_unmapped_ship_codes=True,
                inventory_upload_interval=60,
            )
