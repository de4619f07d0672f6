"""Writes of the REST API: keys (create, revoke, rotate) and orders pushed into an API cart."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from api.models import ApiKey, KeyLevel
from cartrover.adapters import CartOrder
from carts.models import CartConnection
from orders.models import Order
from sync.flows.context import RunContext
from sync.ingest import OrderStore
from sync.models import Schedule

KEY_PREFIX = "ak_"
LAST_USED_EVERY = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key_id() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(12)[:16]


def api_key_create(
    *,
    account: Any,
    level: str,
    name: str,
    merchant: Any = None,
    cart: CartConnection | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is shown this once and never stored.

    Cart keys belong to the cart's merchant; merchant keys to one merchant; warehouse keys to
    the whole account.
    """
    level = KeyLevel(level)
    if level == KeyLevel.CART:
        if cart is None:
            raise ValueError("A cart key needs its cart.")
        merchant = cart.merchant
    elif level == KeyLevel.MERCHANT:
        if merchant is None:
            raise ValueError("A merchant key needs its merchant.")
        cart = None
    else:
        merchant, cart = None, None
    for scoped in (merchant, cart):
        if scoped is not None and scoped.account_id != account.pk:
            raise ValueError("The merchant or cart belongs to another account.")
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        account=account,
        merchant=merchant,
        cart=cart,
        level=level,
        name=name,
        key_id=_new_key_id(),
        secret_hash=_hash(secret),
    )
    return key, secret


def api_key_revoke(key: ApiKey) -> bool:
    """Revoke a key at once; return whether it was active."""
    now = timezone.now()
    revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if revoked:
        key.revoked_at = now
    return bool(revoked)


@transaction.atomic
def api_key_rotate(key: ApiKey) -> tuple[ApiKey, str]:
    """Revoke a key and create its successor with the same scope; return it and its secret."""
    api_key_revoke(key)
    return api_key_create(
        account=key.account, level=key.level, name=key.name, merchant=key.merchant, cart=key.cart
    )


def api_key_authenticate(key_id: str, secret: str) -> ApiKey | None:
    """Return the active key whose id and secret match, else None (compared in constant time)."""
    key = (
        ApiKey.objects.select_related("account", "merchant", "cart")
        .filter(key_id=key_id, revoked_at__isnull=True)
        .first()
    )
    expected = key.secret_hash if key is not None else _hash("no such key")
    matches = hmac.compare_digest(expected, _hash(secret))
    if key is None or not matches:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- Orders pushed into an API cart -----------------------------------------------------------


@dataclass
class PushResult:
    """What happened to one pushed order, and why when it was not stored."""

    external_id: str
    status: str  # created | duplicate | updated | skipped_too_old | error
    order: Order | None
    message: str = ""


# What the store did with an order the push found new, as the push reports it.
_PUSH_STATUS = {
    "created": "created",
    "skipped_too_old": "skipped_too_old",
    "failed": "error",
    "unchanged": "duplicate",
    "updated": "updated",
    "changed_after_delivery": "updated",
    "canceled": "updated",
}


def orders_push(cart: CartConnection, orders: list[CartOrder]) -> list[PushResult]:
    """Store orders a merchant system pushed, exactly as a download stores them.

    Idempotent by the cart's order id: an id the cart already has (or that repeats in the
    batch) is reported as a duplicate and left as it is. The cart is locked before its orders
    are read, so a push that meets a download or another push of the same cart waits for it
    and then reports what it stored as duplicates. An order that still collides with one
    written meanwhile is reported on its own: as updated when the store could apply it to the
    order found, as an error with the reason otherwise; the rest of the batch is stored.
    """
    schedule = Schedule.objects.filter(cart=cart, flow="download").first()
    run = RunContext(schedule=schedule, now=timezone.now())  # type: ignore[arg-type]
    store = OrderStore(cart, run)
    wanted = [o.external_id for o in orders]
    with transaction.atomic():
        store.lock_cart()
        existing = set(
            Order.objects.filter(cart=cart, external_id__in=wanted).values_list(
                "external_id", flat=True
            )
        )
        fresh: dict[str, CartOrder] = {}
        for item in orders:
            if item.external_id not in existing:
                fresh.setdefault(item.external_id, item)
        outcomes = store.save(list(fresh.values()))
    store.finish()
    stored = {o.external_id: o for o in Order.objects.filter(cart=cart, external_id__in=wanted)}
    results, seen = [], set()
    for item in orders:
        status = "duplicate"
        if item.external_id in fresh and item.external_id not in seen:
            status = _PUSH_STATUS.get(outcomes.get(item.external_id, ""), "duplicate")
        seen.add(item.external_id)
        results.append(
            PushResult(
                external_id=item.external_id,
                status=status,
                order=stored.get(item.external_id),
                message=store.failures.get(item.external_id, "") if status == "error" else "",
            )
        )
    return results
