"""API key screens: shown once, revoked and rotated, scoped to what the user may see."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from api.models import ApiKey
from api.services import api_key_authenticate

pytestmark = pytest.mark.django_db


def test_a_merchant_user_creates_a_key_for_its_merchant_and_sees_the_secret_once(client, hub):
    client.force_login(hub.world.merchant_user_a)
    page = client.post(
        reverse("api_keys"),
        {
            "name": "ERP",
            "level": "merchant",
            "merchant": hub.world.merchant_a.pk,
        },
    ).content.decode()
    key = ApiKey.objects.get(name="ERP")
    secret = re.search(r'<code class="secret">([^<]+)</code>', page).group(1)
    assert api_key_authenticate(key.key_id, secret) == key
    again = client.get(reverse("api_keys")).content.decode()
    assert secret not in again and key.key_id in again


def test_merchant_users_cannot_make_warehouse_keys_or_keys_for_another_merchant(client, hub):
    client.force_login(hub.world.merchant_user_a)
    client.post(reverse("api_keys"), {"name": "All", "level": "warehouse"})
    client.post(
        reverse("api_keys"),
        {
            "name": "B",
            "level": "merchant",
            "merchant": hub.world.merchant_b.pk,
        },
    )
    assert not ApiKey.objects.exists()


def test_rotating_revokes_the_old_key_and_shows_the_new_secret(client, hub):
    client.force_login(hub.world.admin)
    client.post(reverse("api_keys"), {"name": "WMS", "level": "warehouse"})
    old = ApiKey.objects.get(name="WMS")
    page = client.post(reverse("api_key_action", args=[old.pk, "rotate"])).content.decode()
    old.refresh_from_db()
    assert old.revoked_at is not None
    new = ApiKey.objects.exclude(pk=old.pk).get(name="WMS")
    secret = re.search(r'<code class="secret">([^<]+)</code>', page).group(1)
    assert api_key_authenticate(new.key_id, secret) == new
