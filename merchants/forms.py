"""Forms for logging in and for managing merchants."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from cartrover.forms import declared_field
from cartrover.http import destination_refusal
from merchants.models import Account, Membership, Merchant, Role, User
from sync.flows import Flow, interval_choices


class EmailAuthenticationForm(AuthenticationForm):
    """Log in by email and password, with one generic message for any failure."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an active user.",
        "inactive": "That email and password do not match an active user.",
    }


class MerchantForm(forms.ModelForm):
    """Create or edit a merchant: schedules, WMS settings its kind asks for, alert contacts."""

    invite_email = forms.EmailField(
        required=False,
        label="Merchant user's email",
        help_text="Optional: creates a login for the merchant and emails an invitation.",
    )
    invite_name = forms.CharField(required=False, label="Merchant user's name")
    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        label="Webhook address",
        help_text="Optional: the merchant's system hears of every order and stock event here, "
        "signed. More on the merchant's Extra interfaces page.",
    )

    class Meta:
        model = Merchant
        fields = [
            "name",
            "active",
            "delivery_interval",
            "deliver_on_download",
            "ship_confirm_interval",
            "inventory_interval",
            "alert_emails",
        ]

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.account = account
        for name, flow in (
            ("delivery_interval", Flow.DELIVERY),
            ("ship_confirm_interval", Flow.SHIP_CONFIRM),
            ("inventory_interval", Flow.INVENTORY),
        ):
            self.fields[name] = forms.TypedChoiceField(
                label=Flow(flow).label,
                choices=interval_choices(flow),
                coerce=int,
                initial=getattr(self.instance, name),
            )
        self.wms_names: list[str] = []
        for spec in _wms_merchant_fields(account):
            name = f"wms_{spec.name}"
            self.fields[name] = declared_field(spec)
            self.fields[name].initial = self.instance.wms_settings.get(spec.name, spec.default)
            self.wms_names.append(name)
        if self.instance.pk:
            del self.fields["invite_email"], self.fields["invite_name"], self.fields["webhook_url"]

    def clean_webhook_url(self) -> str:
        url: str = self.cleaned_data.get("webhook_url") or ""
        refusal = destination_refusal(url) if url else None
        if refusal:
            raise forms.ValidationError(refusal)
        return url

    def clean_invite_email(self) -> str:
        email = (self.cleaned_data.get("invite_email") or "").lower()
        if email and User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email exists already.")
        return email

    def sections(self) -> list[tuple[str, list[Any]]]:
        def pick(names: list[str]) -> list[Any]:
            return [self[n] for n in names if n in self.fields]

        return [
            ("Merchant", pick(["name", "active", "alert_emails"])),
            (
                "Schedules",
                pick(
                    [
                        "delivery_interval",
                        "deliver_on_download",
                        "ship_confirm_interval",
                        "inventory_interval",
                    ]
                ),
            ),
            ("WMS settings", pick(self.wms_names)),
            ("Merchant user", pick(["invite_email", "invite_name"])),
            ("Extra interfaces", pick(["webhook_url"])),
        ]

    def save(self, commit: bool = True) -> Merchant:
        merchant: Merchant = super().save(commit=False)
        merchant.wms_settings = {
            **merchant.wms_settings,
            **{n[4:]: self.cleaned_data.get(n) for n in self.wms_names},
        }
        if commit:
            merchant.save()
        return merchant


def _wms_merchant_fields(account: Account) -> list[Any]:
    from wms.adapters import WMS_KINDS
    from wms.models import WmsConfig

    config = WmsConfig.objects.filter(account=account).first()
    if config is None:
        return []
    try:
        return list(WMS_KINDS.adapter_class(config.kind).merchant_fields)
    except Exception:  # an uninstalled kind: nothing to ask
        return []


class ProfileForm(forms.ModelForm):
    """A user's own name, time zone and alert emails."""

    class Meta:
        model = User
        fields = ["name", "time_zone", "email_alerts"]


class InviteForm(forms.Form):
    """Invite a person into the account with a role (merchant users: for one merchant)."""

    email = forms.EmailField()
    name = forms.CharField(required=False)
    role = forms.ChoiceField(choices=Role.choices)
    merchant = forms.ModelChoiceField(queryset=Merchant.objects.none(), required=False)

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        merchant_field = self.fields["merchant"]
        assert isinstance(merchant_field, forms.ModelChoiceField)
        merchant_field.queryset = Merchant.objects.filter(account=account)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if Membership.objects.filter(account=self.account, user__email__iexact=email).exists():
            raise forms.ValidationError("This person is in the account already.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("role") == Role.MERCHANT and not data.get("merchant"):
            self.add_error("merchant", "A merchant user needs its merchant.")
        if data.get("role") != Role.MERCHANT:
            data["merchant"] = None
        return data
