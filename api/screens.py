"""API screens of the web UI: API keys, and each merchant's outbound webhooks.

Admins manage the account's keys, merchant users their own; a merchant's webhook endpoints
(its "extra interfaces") belong to whoever may see the merchant.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.models import ApiKey, KeyLevel, WebhookDelivery, WebhookEndpoint
from api.outbound import EVENTS, webhook_delivery_replay, webhook_endpoint_create
from api.services import api_key_create, api_key_revoke, api_key_rotate
from cartrover.http import destination_refusal
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


# --- Extra interfaces: a merchant's outbound webhooks ---------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    """Where a merchant's system hears about its orders and stock, and which events."""

    url = forms.URLField(max_length=500, assume_scheme="https", label="Address (https://…)")
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "active"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        refusal = destination_refusal(url)
        if refusal:
            raise forms.ValidationError(refusal)
        return url


def webhook_endpoints_page(
    request: HttpRequest,
    merchant: Merchant,
    form: WebhookEndpointForm,
    **extra: object,
) -> HttpResponse:
    """Render a merchant's endpoints with `form`; `extra` may carry a secret to show once."""
    endpoints = merchant.webhook_endpoints.annotate(
        pending=Count("deliveries", filter=Q(deliveries__delivered_at__isnull=True)),
        last_delivered=Max("deliveries__delivered_at"),
    )
    context = {"merchant": merchant, "endpoints": endpoints, "form": form, **extra}
    return render(request, "api/endpoints.html", context)


@tenant_required
def webhook_endpoints(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    """List a merchant's webhook endpoints and add one; its secret is shown once."""
    merchant = get_for_tenant_or_404(tenant, Merchant, pk=pk)
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint, secret = webhook_endpoint_create(
            merchant=merchant,
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            active=form.cleaned_data["active"],
        )
        return webhook_endpoints_page(
            request, merchant, WebhookEndpointForm(), created=endpoint, secret=secret
        )
    return webhook_endpoints_page(request, merchant, form)


@tenant_required
def webhook_endpoint_detail(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    """Change an endpoint and see its recent deliveries, each replayable."""
    endpoint = get_for_tenant_or_404(tenant, WebhookEndpoint, pk=pk)
    form = WebhookEndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Endpoint {endpoint.url} saved.")
        return redirect("webhook_endpoint_detail", pk=endpoint.pk)
    deliveries = endpoint.deliveries.order_by("-created_at", "-id")[:50]
    return render(
        request,
        "api/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "merchant": endpoint.merchant,
            "form": form,
            "deliveries": deliveries,
        },
    )


@tenant_required
@require_POST
def webhook_endpoint_delete(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    endpoint = get_for_tenant_or_404(tenant, WebhookEndpoint, pk=pk)
    merchant_pk = endpoint.merchant_id
    endpoint.delete()
    messages.success(request, f"Endpoint {endpoint.url} removed: it hears nothing more.")
    return redirect("webhook_endpoints", pk=merchant_pk)


@tenant_required
@require_POST
def webhook_delivery_resend(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    delivery = get_for_tenant_or_404(
        tenant, WebhookDelivery.objects.select_related("endpoint"), pk=pk
    )
    if webhook_delivery_replay(delivery):
        messages.success(request, f"{delivery.event} sent again: the endpoint accepted it.")
    else:
        messages.error(
            request,
            f"{delivery.event} sent again, but the endpoint answered "
            f"{delivery.last_status or 'nothing'}: check the receiver, then send again.",
        )
    return redirect("webhook_endpoint_detail", pk=delivery.endpoint_id)
