"""Writes about accounts, merchants and their people."""

from __future__ import annotations

from typing import Any

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


def merchant_user_invite(*, merchant: Merchant, email: str, name: str, request: Any) -> User:
    """Create a login for a merchant's user and email a link to choose a password."""
    return user_invite(
        account=merchant.account,
        email=email,
        name=name,
        role=Role.MERCHANT,
        merchant=merchant,
        request=request,
    )


def user_invite(
    *,
    account: Account,
    email: str,
    name: str,
    role: str,
    merchant: Merchant | None,
    request: Any,
) -> User:
    """Give a person a role in the account (creating their login if new) and email them."""
    import secrets

    from django.contrib.auth.forms import PasswordResetForm

    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        # A random password the user never learns: the emailed link sets theirs.
        user = User.objects.create_user(email, secrets.token_urlsafe(32), name=name)
    membership_grant(user=user, account=account, role=role, merchant=merchant)
    form = PasswordResetForm({"email": email})
    if form.is_valid():
        form.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name="registration/invitation_subject.txt",
            email_template_name="registration/invitation_email.html",
            extra_email_context={"merchant": merchant.name if merchant else account.name},
        )
    return user
