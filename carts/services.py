"""Writes and adapter access for cart connections."""

from __future__ import annotations

from carts.adapters import CART_KINDS
from carts.adapters.base import CartAdapter
from carts.models import CartConnection


def cart_adapter(cart: CartConnection) -> CartAdapter:
    """Return the adapter of the cart's kind, bound to its credentials and setup."""
    adapter_class: type[CartAdapter] = CART_KINDS.adapter_class(cart.kind)
    return adapter_class(
        credentials=cart.credentials, setup=cart.setup, connection_key=f"cart:{cart.pk}"
    )
