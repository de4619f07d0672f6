"""Create the demo account and its logins once; print how to log in."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from merchants.models import Account, Role, User
from merchants.services import account_create, membership_grant, merchant_create

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
            self.stdout.write("Demo account created.")
        url = options["url"]
        self.stdout.write(
            f"\n  Order hub: {url}\n"
            f"  Staff login:    {ADMIN_EMAIL} / {password}\n"
            f"  Merchant login: {MERCHANT_EMAIL} / {password}\n"
        )
