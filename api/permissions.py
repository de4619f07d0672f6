"""What each key level may do, and the scope every queryset of a request is narrowed to."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from rest_framework import permissions
from rest_framework.request import Request

from api.authentication import key_of
from api.models import ApiKey, KeyLevel
from cartrover.tenancy import Tenant, get_for_tenant_or_404

M = TypeVar("M", bound=models.Model)

ALL_LEVELS = frozenset(KeyLevel.values)
MERCHANT_UP = frozenset({KeyLevel.MERCHANT, KeyLevel.WAREHOUSE})
WAREHOUSE_ONLY = frozenset({KeyLevel.WAREHOUSE})


def key_tenant(key: ApiKey) -> Tenant:
    """Return the tenant a key acts as: its account, narrowed to its merchant below warehouse.

    The membership is never saved: it only carries the scope into `visible_to`, so API views
    go through the same scoping as the web UI.
    """
    from merchants.models import Membership, Role

    role = Role.ADMIN if key.level == KeyLevel.WAREHOUSE else Role.MERCHANT
    return Tenant(Membership(account_id=key.account_id, merchant_id=key.merchant_id, role=role))


def scoped(key: ApiKey, queryset: models.QuerySet[M] | type[M]) -> models.QuerySet[M]:
    """Return the rows of `queryset` the key may see (cart keys: their cart's rows only)."""
    if isinstance(queryset, type):
        queryset = queryset._default_manager.all()
    qs: models.QuerySet[M] = queryset.visible_to(key_tenant(key))  # type: ignore[attr-defined]
    if key.level == KeyLevel.CART:
        names = {f.name for f in qs.model._meta.get_fields()}
        if qs.model._meta.model_name == "cartconnection":
            qs = qs.filter(pk=key.cart_id)
        elif "cart" in names:
            qs = qs.filter(cart_id=key.cart_id)
    return qs


def scoped_get_or_404(key: ApiKey, queryset: models.QuerySet[M] | type[M], **lookups: Any) -> M:
    """Return the one object the key may see, else 404 exactly as for a missing one."""
    return get_for_tenant_or_404(key_tenant(key), scoped(key, queryset), **lookups)


class KeyLevelPermission(permissions.BasePermission):
    """Allow the key levels a view names for the request's method (read or write)."""

    message = "This API key's level does not allow this: use a key of a higher level."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = key_of(request)
        if request.method in permissions.SAFE_METHODS:
            allowed = getattr(view, "read_levels", ALL_LEVELS)
        else:
            allowed = getattr(view, "write_levels", WAREHOUSE_ONLY)
        return key.level in allowed
