"""Writes about accounts, merchants and their people."""

from __future__ import annotations

from django.db import transaction

from merchants.models import Account, AccountKind, Membership, Merchant, Role, User


@transaction.atomic
def account_create(
    *, name: str, kind: str = AccountKind.FULFILLMENT, time_zone: str = "UTC"
) -> Account:
    """Create an account; a merchant account gets its one merchant, named like the account."""
    account = Account(name=name, kind=kind, time_zone=time_zone)
    account.full_clean()
    account.save()
    if kind == AccountKind.MERCHANT:
        Merchant.objects.create(account=account, name=name)
    return account


def merchant_create(*, account: Account, name: str, active: bool = True) -> Merchant:
    """Create a merchant in a fulfillment account; a merchant account refuses a second one."""
    merchant = Merchant(account=account, name=name, active=active)
    merchant.full_clean()
    merchant.save()
    return merchant


def membership_grant(
    *, user: User, account: Account, role: str, merchant: Merchant | None = None
) -> Membership:
    """Give a user a role in an account (merchant users: in one of its merchants)."""
    if account.kind == AccountKind.MERCHANT and role == Role.MERCHANT and merchant is None:
        merchant = account.merchants.get()
    membership = Membership(user=user, account=account, role=role, merchant=merchant)
    membership.full_clean()
    membership.save()
    return membership
