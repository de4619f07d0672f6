"""API key authentication: HTTP Basic (key id : secret) or `Bearer <key id>.<secret>`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import ApiKey
from api.services import api_key_authenticate


class ApiKeyUser:
    """The caller of an authenticated API request: its key, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.key.key_id}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Accept an API key sent as Basic credentials or as a Bearer token."""

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise exceptions.AuthenticationFailed(
                    "The Basic credentials are not valid base64 of key_id:secret."
                ) from None
            key_id, sep, secret = decoded.partition(":")
        elif scheme == "bearer":
            key_id, sep, secret = value.partition(".")
        else:
            return None
        if not sep or not key_id or not secret:
            raise exceptions.AuthenticationFailed(
                "Send the API key as Basic key_id:secret or as Bearer key_id.secret."
            )
        key = api_key_authenticate(key_id, secret)
        if key is None:
            raise exceptions.AuthenticationFailed(
                "The API key is wrong or was revoked: create a new key and use it."
            )
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="api", Bearer realm="api"'


def key_of(request: Any) -> ApiKey:
    """Return the API key of an authenticated request."""
    key = getattr(request, "auth", None)
    if not isinstance(key, ApiKey):
        raise exceptions.NotAuthenticated()
    return key
