"""Secrets at rest: encrypted in the database, rotatable, masked everywhere they are shown."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from cartrover import crypto
from wms.models import WmsConfig

pytestmark = pytest.mark.django_db

SECRET = "sk_live_8f3a-very-secret"


def raw_credentials(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM wms_wmsconfig WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def config(world):
    return WmsConfig.objects.create(
        account=world.account, kind="dummy", credentials={"api_key": SECRET, "user": "ops"}
    )


def test_secret_is_not_readable_in_the_database(config):
    stored = raw_credentials(config.pk)
    assert SECRET not in stored
    assert "api_key" not in stored
    assert WmsConfig.objects.get(pk=config.pk).credentials["api_key"] == SECRET


def test_rotation_re_encrypts_with_the_new_key_and_old_key_can_then_go(config, settings):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    before = raw_credentials(config.pk)
    new = crypto.new_key()
    settings.FIELD_ENCRYPTION_KEYS = [new, *old_keys]
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    after = raw_credentials(config.pk)
    assert after != before
    assert Fernet(new.encode()).decrypt(after.encode())  # written with the new key
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert WmsConfig.objects.get(pk=config.pk).credentials["api_key"] == SECRET


def test_reading_with_the_wrong_key_fails_clearly_naming_the_setting(config, settings):
    settings.FIELD_ENCRYPTION_KEYS = [crypto.new_key()]
    with pytest.raises(crypto.DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        WmsConfig.objects.get(pk=config.pk)


@pytest.mark.parametrize("raw", ["", "not-a-key", "short,also-bad"])
def test_a_malformed_key_is_a_configuration_error_naming_the_setting(raw):
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        crypto.parse_keys(raw, setting="FIELD_ENCRYPTION_KEYS")


def test_secrets_never_show_in_reprs_or_logs(config, caplog):
    loaded = WmsConfig.objects.get(pk=config.pk)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info(
            "credentials are %s / %r", loaded.credentials, loaded.credentials
        )
    assert SECRET not in repr(loaded.credentials)
    assert SECRET not in str(loaded.credentials)
    assert SECRET not in caplog.text
    assert "api_key" in caplog.text


def test_serialized_rows_carry_ciphertext_not_secrets(config):
    from django.core import serializers

    dumped = serializers.serialize("json", WmsConfig.objects.all())
    assert SECRET not in dumped


def test_admin_shows_secrets_masked_and_saving_keeps_them(client, config, world):
    from merchants.models import User

    operator = User.objects.create_superuser("ops@example.com", "pw-for-ops-123")
    client.force_login(operator)
    url = reverse("admin:wms_wmsconfig_change", args=[config.pk])
    page = client.get(url).content.decode()
    assert SECRET not in page
    assert "api_key" in page
    response = client.post(
        url,
        {
            "account": world.account.pk,
            "kind": "dummy",
            "settings": "{}",
            "health": "active",
            "last_error": "",
            "updated_at_0": "2026-01-01",
            "updated_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert WmsConfig.objects.get(pk=config.pk).credentials["api_key"] == SECRET
