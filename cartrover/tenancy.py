"""Tenancy: who the current user acts for, and the scoped access every view goes through.

Every tenant-owned model carries `account`, uses `TenantQuerySet` as its manager and names, in
`tenant_merchant_path`, the lookup from the row to its merchant ("merchant", "cart__merchant",
"pk" for Merchant itself, None for account-level rows). `visible_to(tenant)` then narrows a
queryset to what that tenant may see, and `get_for_tenant_or_404` loads one object so that
another tenant's object and a missing one are the same 404.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

if TYPE_CHECKING:
    from collections.abc import Callable

    from merchants.models import Account, Membership, Merchant

M = TypeVar("M", bound=models.Model)

SESSION_ACCOUNT_KEY = "account_id"


@dataclass(frozen=True)
class Tenant:
    """The account a user acts in, with the role and (for merchant users) the merchant."""

    membership: Membership

    @property
    def account(self) -> Account:
        return self.membership.account

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def merchant(self) -> Merchant | None:
        return self.membership.merchant

    @property
    def is_merchant_user(self) -> bool:
        return self.membership.merchant_id is not None

    @property
    def is_admin(self) -> bool:
        from merchants.models import Role

        return self.membership.role == Role.ADMIN


class TenantQuerySet(models.QuerySet[M]):
    """A queryset that can narrow itself to what one tenant may see."""

    def visible_to(self, tenant: Tenant | None) -> TenantQuerySet[M]:
        """Return the rows of the tenant's account, and of its merchant for merchant users."""
        if tenant is None:
            return self.none()
        qs = self.filter(account_id=tenant.membership.account_id)
        if tenant.is_merchant_user:
            path = getattr(self.model, "tenant_merchant_path", None)
            if path is not None:
                qs = qs.filter(**{path: tenant.membership.merchant_id})
        return qs


def get_for_tenant_or_404(
    tenant: Tenant | None, queryset: models.QuerySet[M] | type[M], **lookups: Any
) -> M:
    """Return the one object matching `lookups` that the tenant may see, else raise Http404."""
    if isinstance(queryset, type):
        queryset = queryset._default_manager.all()
    scoped = queryset.visible_to(tenant)  # type: ignore[attr-defined]
    try:
        return scoped.get(**lookups)
    except (scoped.model.DoesNotExist, ValueError, TypeError):
        raise Http404("No such object.") from None


def memberships_of(user: Any) -> models.QuerySet[Membership]:
    """Return the user's memberships, with account and merchant loaded."""
    from merchants.models import Membership

    return Membership.objects.filter(user_id=user.pk).select_related("account", "merchant")


def tenant_for(user: Any, account_id: int | None = None) -> Tenant | None:
    """Return the tenant the user acts as: the chosen account, else the first one."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    memberships = memberships_of(user).order_by("account__name", "pk")
    membership = None
    if account_id is not None:
        membership = memberships.filter(account_id=account_id).first()
    if membership is None:
        membership = memberships.first()
    return Tenant(membership) if membership else None


class TenantMiddleware:
    """Attach `request.tenant` (lazily) for the logged-in user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        def load() -> Tenant | None:
            account_id = request.session.get(SESSION_ACCOUNT_KEY)
            return tenant_for(request.user, account_id)

        request.tenant = SimpleLazyObject(load)  # type: ignore[attr-defined]
        zone = _time_zone_of(request)
        if zone:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def _time_zone_of(request: HttpRequest) -> str:
    """Return the zone to show times in: the user's own, else their account's."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    if user.time_zone:
        return str(user.time_zone)
    tenant = current_tenant(request)
    return tenant.account.time_zone if tenant is not None else ""


def current_tenant(request: HttpRequest) -> Tenant | None:
    """Return the request's tenant, or None for a user without any membership."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return None
    # SimpleLazyObject wrapping None is not None itself: unwrap it.
    return tenant if getattr(tenant, "membership", None) is not None else None


def tenant_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Require a logged-in user with a membership; pass the tenant to the view."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        tenant = current_tenant(request)
        if tenant is None:
            return render(request, "no_account.html", status=403)
        return view(request, tenant, *args, **kwargs)

    return wrapper


def tenant_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the current tenant, if any."""
    return {"tenant": current_tenant(request)}
