"""Secrets at rest: an encrypted JSON model field and the key handling behind it.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256). `FIELD_ENCRYPTION_KEYS` lists
several keys, newest first: the newest encrypts, any of them decrypts, so keys can rotate
(`manage.py rotate_encryption_keys` re-encrypts every stored secret with the newest key).
Decrypted values are `SecretDict`s whose repr masks every value, so a secret that reaches a
log line, a traceback or the admin shows as `***`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models, transaction

MASK = "***"


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def new_key() -> str:
    """Return a fresh Fernet key as text."""
    return Fernet.generate_key().decode()


def parse_keys(raw: str, *, setting: str) -> list[str]:
    """Split a comma-separated key list and check each key, naming the setting on error."""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise ImproperlyConfigured(f"{setting} is empty: set at least one Fernet key.")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{setting}: key #{position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            ) from None
    return keys


@cache
def _fernet() -> MultiFernet:
    from django.conf import settings

    return MultiFernet([Fernet(k.encode()) for k in settings.FIELD_ENCRYPTION_KEYS])


def _reset_cache(*, setting: str, **_: Any) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_reset_cache)


def encrypt(plaintext: bytes) -> str:
    """Return the token for `plaintext`, encrypted with the newest key."""
    return _fernet().encrypt(plaintext).decode()


def decrypt(token: str) -> bytes:
    """Return the plaintext of `token`, or raise DecryptionError naming the setting."""
    try:
        return _fernet().decrypt(token.encode())
    except InvalidToken:
        raise DecryptionError(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS: "
            "the key it was written with is missing or wrong. Restore that key (keep it in the "
            "list after the new one while rotating)."
        ) from None


class SecretDict(dict[str, Any]):
    """A dict of secrets whose repr and str never show the values."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {MASK!r}" for k in self) + "}"

    __str__ = __repr__

    def masked(self) -> dict[str, str]:
        """Return the keys with masked values, for display."""
        return {k: (MASK if v not in (None, "") else "") for k, v in self.items()}


if TYPE_CHECKING:
    _TextField = models.TextField[dict[str, Any] | None, SecretDict]
else:
    _TextField = models.TextField


class EncryptedJSONField(_TextField):
    """A JSON object stored as a Fernet token; read back as a SecretDict."""

    description = "Encrypted JSON object"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> SecretDict:
        if value in (None, ""):
            return SecretDict()
        return SecretDict(json.loads(decrypt(value)))

    def to_python(self, value: Any) -> SecretDict:
        if isinstance(value, SecretDict):
            return value
        if isinstance(value, dict):
            return SecretDict(value)
        if value in (None, ""):
            return SecretDict()
        return SecretDict(json.loads(decrypt(value)))

    def get_prep_value(self, value: Any) -> str:
        return encrypt(json.dumps(dict(value or {}), sort_keys=True).encode())

    def value_to_string(self, obj: models.Model) -> str:
        # Serialization (dumpdata) must not leak plaintext: emit the ciphertext.
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> Any:
        from cartrover.forms import SecretsDisplayField

        return SecretsDisplayField(label=self.verbose_name.capitalize())


def encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    """Yield (model, field name) for every EncryptedJSONField in the project."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedJSONField):
                yield model, field.name


def reencrypt_all() -> dict[str, int]:
    """Re-encrypt every stored secret with the newest key; return rows per model field."""
    counts: dict[str, int] = {}
    for model, name in encrypted_fields():
        label = f"{model._meta.label}.{name}"
        counts[label] = 0
        manager = model._default_manager
        for pk in manager.values_list("pk", flat=True).iterator():
            with transaction.atomic():
                # Lock the row so a concurrent edit is neither lost nor overwritten.
                rows = manager.select_for_update().filter(pk=pk)
                value = rows.values_list(name, flat=True).first()
                if value is not None:
                    rows.update(**{name: value})
                    counts[label] += 1
    return counts
