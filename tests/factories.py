"""Factories for the suite's rows."""

from __future__ import annotations

import factory

from merchants.models import Account, AccountKind, Membership, Merchant, User

PASSWORD = "correct horse battery staple"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    kind = AccountKind.FULFILLMENT


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Merchant {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def member(account: Account, role: str, merchant: Merchant | None = None) -> User:
    """Create a user with one membership in `account`."""
    user = UserFactory()
    Membership.objects.create(user=user, account=account, role=role, merchant=merchant)
    return user
