"""Django admin for operators: every model is registered and its pages open."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"merchants", "wms", "carts", "orders", "sync"}


def test_every_project_model_is_in_the_admin():
    missing = [
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in PROJECT_APPS and m not in admin.site._registry
    ]
    assert missing == []


def test_every_changelist_opens_with_search_for_an_operator(client, hub):
    from merchants.models import User

    client.force_login(User.objects.create_superuser("ops@example.com", "pw-ops-123456"))
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert model_admin.search_fields, model._meta.label
        assert client.get(url, {"q": "x"}).status_code == 200, url
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk]
            )
            page = client.get(change)
            assert page.status_code == 200, change
            assert b"sandbox-key" not in page.content and b"wms-key" not in page.content
