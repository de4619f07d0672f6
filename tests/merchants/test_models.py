"""Account, merchant and membership rules."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from merchants.models import AccountKind, Membership, Role, User
from merchants.services import account_create, membership_grant, merchant_create
from tests.factories import AccountFactory, MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_merchant_account_is_created_with_exactly_one_merchant_itself():
    account = account_create(name="Solo Soap", kind=AccountKind.MERCHANT)
    assert [m.name for m in account.merchants.all()] == ["Solo Soap"]


def test_merchant_account_refuses_a_second_merchant():
    account = account_create(name="Solo Soap", kind=AccountKind.MERCHANT)
    with pytest.raises(ValidationError, match="exactly one merchant"):
        merchant_create(account=account, name="Another")
    assert account.merchants.count() == 1


def test_fulfillment_account_takes_many_merchants():
    account = account_create(name="Big 3PL")
    for name in ("One", "Two", "Three"):
        merchant_create(account=account, name=name)
    assert account.merchants.count() == 3


def test_merchant_names_are_unique_per_account_ignoring_case():
    account = AccountFactory()
    merchant_create(account=account, name="Acme")
    with pytest.raises(ValidationError):
        merchant_create(account=account, name="ACME")
    merchant_create(account=AccountFactory(), name="Acme")


def test_merchant_role_requires_its_merchant_in_the_database():
    account = AccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=UserFactory(), account=account, role=Role.MERCHANT)


def test_staff_role_cannot_be_tied_to_a_merchant():
    account = AccountFactory()
    merchant = MerchantFactory(account=account)
    with pytest.raises(ValidationError):
        membership_grant(user=UserFactory(), account=account, role=Role.STAFF, merchant=merchant)


def test_merchant_user_cannot_be_tied_to_another_accounts_merchant():
    foreign = MerchantFactory()
    with pytest.raises(ValidationError, match="another account"):
        membership_grant(
            user=UserFactory(), account=AccountFactory(), role=Role.MERCHANT, merchant=foreign
        )


def test_emails_are_unique_ignoring_case_and_stored_lowercase():
    user = User.objects.create_user("Ana@Example.COM", "x")
    assert user.email == "ana@example.com"
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="ANA@example.com")


def test_unknown_time_zone_is_rejected():
    account = AccountFactory.build(time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="time zone"):
        account.full_clean()
