"""Reads about accounts and merchants, always scoped to a tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from cartrover.tenancy import Tenant
from merchants.models import Membership, Merchant


def merchants_visible(*, tenant: Tenant) -> QuerySet[Merchant]:
    """Return the merchants the tenant may see: all of the account's, or its own."""
    return Merchant.objects.visible_to(tenant).order_by("name")


def members_visible(*, tenant: Tenant) -> QuerySet[Membership]:
    """Return the memberships the tenant may see, with users and merchants loaded."""
    return (
        Membership.objects.visible_to(tenant)
        .select_related("user", "merchant")
        .order_by("user__email")
    )
