"""Writes and adapter access for cart connections."""

from __future__ import annotations

from carts.adapters import CART_KINDS
from carts.adapters.base import CartAdapter
from carts.models import CartConnection
from sync.health import connection_healthy


def cart_adapter(cart: CartConnection) -> CartAdapter:
    """Return the adapter of the cart's kind, bound to its credentials and setup."""
    adapter_class: type[CartAdapter] = CART_KINDS.adapter_class(cart.kind)
    return adapter_class(
        credentials=cart.credentials, setup=cart.setup, connection_key=f"cart:{cart.pk}"
    )


def cart_test_connection(cart: CartConnection) -> tuple[bool, str]:
    """Try the cart's credentials and setup; return (ok, a message a person can act on).

    A passing test marks the connection healthy again and resumes its paused schedules.
    """
    from cartrover.adapters import AdapterError

    try:
        message = cart_adapter(cart).test_connection()
    except AdapterError as exc:
        return False, exc.message
    connection_healthy(cart)
    return True, message


def cart_webhook_address(cart: CartConnection) -> str:
    """Return the public address the cart's platform posts webhooks to ('' if unknown)."""
    from django.conf import settings
    from django.urls import reverse

    if not settings.PUBLIC_URL:
        return ""
    return settings.PUBLIC_URL.rstrip("/") + reverse("cart_webhook", args=[cart.webhook_key])


def cart_webhooks_register(cart: CartConnection) -> list[str]:
    """Subscribe the cart's platform webhooks to the hub, where the kind and settings allow."""
    adapter = cart_adapter(cart)
    address = cart_webhook_address(cart)
    if not address or "webhooks" not in adapter.capabilities or not cart.download_interval:
        return []
    return adapter.register_webhooks(address)
