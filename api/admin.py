"""Operators' view of keys and webhooks: secrets and hashes are never shown.

A key added here is made by `api_key_create`; its secret is shown once, in the message after
saving. Revoke and rotate are actions (rotation shows the new secret once, the same way).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from api.services import api_key_create, api_key_revoke, api_key_rotate


def _show_secret(request: HttpRequest, key: ApiKey, secret: str) -> None:
    messages.warning(
        request,
        f"Secret of API key {key.key_id}: {secret} — copy it now, it is not shown again. "
        f"Use Basic {key.key_id}:<secret> or Bearer {key.key_id}.<secret>.",
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "key_id", "level", "account", "merchant", "last_used_at", "revoked_at"]
    list_filter = ["level", "account"]
    search_fields = ["name", "key_id", "account__name", "merchant__name"]
    list_select_related = ["account", "merchant"]
    autocomplete_fields = ["account", "merchant", "cart"]
    actions = ["revoke", "rotate"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["account", "level", "merchant", "cart", "name"]
        return [
            "name",
            "key_id",
            "level",
            "account",
            "merchant",
            "cart",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return ["key_id", "level", "account", "merchant", "cart", "created_at", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            key, secret = api_key_create(
                account=obj.account,
                level=obj.level,
                name=obj.name,
                merchant=obj.merchant,
                cart=obj.cart,
            )
        except ValueError as exc:
            messages.error(request, f"The key was not created: {exc}")
            return
        obj.pk, obj.key_id, obj.merchant_id = key.pk, key.key_id, key.merchant_id
        _show_secret(request, key, secret)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = sum(api_key_revoke(key) for key in queryset)
        messages.success(request, f"{count} key(s) revoked.")

    @admin.action(description="Rotate the selected keys (new secrets are shown once)")
    def rotate(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            new, secret = api_key_rotate(key)
            _show_secret(request, new, secret)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "merchant", "account", "active", "created_at"]
    list_filter = ["active", "account"]
    search_fields = ["url", "merchant__name"]
    exclude = ["secret"]
    readonly_fields = ["last_event_id", "last_job_run_id"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "endpoint", "attempts", "last_status", "delivered_at", "created_at"]
    list_filter = ["event", "account"]
    readonly_fields = [
        "endpoint",
        "event",
        "event_key",
        "payload",
        "attempts",
        "attempt_log",
        "last_status",
        "last_response",
        "delivered_at",
    ]
