"""API key screens of the web UI: admins manage the account's keys, merchant users their own."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.models import ApiKey, KeyLevel
from api.services import api_key_create, api_key_revoke, api_key_rotate
from cartrover.tenancy import Tenant, get_for_tenant_or_404, tenant_required
from carts.models import CartConnection
from merchants.models import Merchant


class ApiKeyForm(forms.Form):
    """Name a new key and choose what it may reach."""

    name = forms.CharField(max_length=100)
    level = forms.ChoiceField(choices=KeyLevel.choices)
    merchant = forms.ModelChoiceField(queryset=Merchant.objects.none(), required=False)
    cart = forms.ModelChoiceField(queryset=CartConnection.objects.none(), required=False)

    def __init__(self, *args: object, tenant: Tenant, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["merchant"].queryset = Merchant.objects.visible_to(tenant)
        self.fields["cart"].queryset = CartConnection.objects.visible_to(tenant)
        if not tenant.is_admin:
            # Merchant users and staff make keys for one merchant or one cart only.
            self.fields["level"].choices = [
                (v, label) for v, label in KeyLevel.choices if v != KeyLevel.WAREHOUSE
            ]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        level = data.get("level")
        if level == KeyLevel.MERCHANT and not data.get("merchant"):
            self.add_error("merchant", "A merchant key needs its merchant.")
        if level == KeyLevel.CART and not data.get("cart"):
            self.add_error("cart", "A cart key needs its cart.")
        return data


@tenant_required
def api_keys(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    form = ApiKeyForm(request.POST or None, tenant=tenant)
    secret = ""
    created = None
    if request.method == "POST" and form.is_valid():
        created, secret = api_key_create(
            account=tenant.account,
            level=form.cleaned_data["level"],
            name=form.cleaned_data["name"],
            merchant=form.cleaned_data.get("merchant"),
            cart=form.cleaned_data.get("cart"),
        )
        form = ApiKeyForm(tenant=tenant)
    keys = ApiKey.objects.visible_to(tenant).select_related("merchant", "cart").order_by("-id")
    return render(
        request,
        "api/keys.html",
        {
            "form": form,
            "keys": keys,
            "created": created,
            "secret": secret,
        },
    )


@tenant_required
@require_POST
def api_key_action(request: HttpRequest, tenant: Tenant, pk: int, action: str) -> HttpResponse:
    key = get_for_tenant_or_404(tenant, ApiKey, pk=pk)
    if action == "revoke":
        api_key_revoke(key)
        messages.success(request, f"Key {key.key_id} revoked: it no longer works.")
        return redirect("api_keys")
    if action == "rotate":
        new, secret = api_key_rotate(key)
        keys = ApiKey.objects.visible_to(tenant).select_related("merchant", "cart").order_by("-id")
        return render(
            request,
            "api/keys.html",
            {
                "form": ApiKeyForm(tenant=tenant),
                "keys": keys,
                "created": new,
                "secret": secret,
            },
        )
    messages.error(request, f"Unknown action {action!r}.")
    return redirect("api_keys")
