"""Tenancy: accounts, the people in them, and their merchants."""

from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from cartrover.tenancy import TenantQuerySet
from sync.flows import Flow, interval_field


def validate_time_zone(value: str) -> None:
    """Reject a time zone name the IANA database does not know."""
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/Berlin).")


class AccountKind(models.TextChoices):
    FULFILLMENT = "fulfillment", "Fulfillment center (many merchants)"
    MERCHANT = "merchant", "Merchant (one merchant, itself)"


class Account(models.Model):
    """A fulfillment center, or a single merchant, using the hub: the tenant boundary."""

    name = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=20, choices=AccountKind.choices, default=AccountKind.FULFILLMENT
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    """Create users identified by email."""

    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in by email; `is_staff` marks operators who may use Django admin."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Blank: the account's time zone.",
    )
    email_alerts = models.BooleanField(
        default=True, help_text="Email me when an alert opens for what I can see."
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Operators: may log in to Django admin."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


class Merchant(models.Model):
    """A client of the fulfillment center whose orders the hub moves."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="merchants")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    delivery_interval = interval_field(Flow.DELIVERY, default=5)
    deliver_on_download = models.BooleanField(
        default=True, help_text="Also deliver as soon as a download finds new orders."
    )
    ship_confirm_interval = interval_field(Flow.SHIP_CONFIRM, default=15)
    inventory_interval = interval_field(Flow.INVENTORY, default=60)
    wms_settings = models.JSONField(
        default=dict, blank=True, help_text="What the WMS kind asks for per merchant."
    )
    alert_emails = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated addresses told about alerts."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "pk"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("account", Lower("name"), name="merchant_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def interval_for(self, flow: str) -> int:
        """Return the configured interval of one of this merchant's flows."""
        return {
            Flow.DELIVERY: self.delivery_interval,
            Flow.SHIP_CONFIRM: self.ship_confirm_interval,
            Flow.INVENTORY: self.inventory_interval,
        }[Flow(flow)]

    def clean(self) -> None:
        super().clean()
        if self.account_id is None or self.account.kind != AccountKind.MERCHANT:
            return
        others = Merchant.objects.filter(account_id=self.account_id).exclude(pk=self.pk)
        if others.exists():
            raise ValidationError("A merchant account has exactly one merchant: itself.")


class Role(models.TextChoices):
    ADMIN = "admin", "Account admin"
    STAFF = "staff", "Staff"
    MERCHANT = "merchant", "Merchant user"


class Membership(models.Model):
    """Give a user a role in one account; a merchant user is tied to one merchant."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()
    tenant_merchant_path: ClassVar[str | None] = "merchant"

    class Meta:
        ordering = ["account", "user"]
        constraints = [
            models.UniqueConstraint("user", "account", name="membership_user_account_unique"),
            models.CheckConstraint(
                condition=(
                    models.Q(role="merchant", merchant__isnull=False)
                    | (~models.Q(role="merchant") & models.Q(merchant__isnull=True))
                ),
                name="membership_merchant_iff_merchant_role",
            ),
        ]

    def __str__(self) -> str:
        where = f"{self.account} / {self.merchant}" if self.merchant_id else str(self.account)
        return f"{self.user} ({self.get_role_display()} of {where})"

    def clean(self) -> None:
        super().clean()
        if self.role == Role.MERCHANT and self.merchant_id is None:
            raise ValidationError({"merchant": "A merchant user needs its merchant."})
        if self.role != Role.MERCHANT and self.merchant_id is not None:
            raise ValidationError({"merchant": "Only merchant users are tied to a merchant."})
        merchant = self.merchant
        if merchant is not None and self.account_id and merchant.account_id != self.account_id:
            raise ValidationError({"merchant": "The merchant belongs to another account."})
