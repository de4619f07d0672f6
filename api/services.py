"""Writes of the REST API: keys (create, revoke, rotate) and orders pushed into an API cart."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
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
    """What happened to one pushed order."""

    external_id: str
    status: str  # created | duplicate | skipped_too_old
    order: Order | None


def orders_push(cart: CartConnection, orders: list[CartOrder]) -> list[PushResult]:
    """Store orders a merchant system pushed, exactly as a download stores them.

    Idempotent by the cart's order id: an id the cart already has (or that repeats in the
    batch) is reported as a duplicate and left as it is.
    """
    schedule = Schedule.objects.filter(cart=cart, flow="download").first()
    run = RunContext(schedule=schedule, now=timezone.now())  # type: ignore[arg-type]
    for attempt in range(2):
        store = OrderStore(cart, run)
        existing = set(
            Order.objects.filter(
                cart=cart, external_id__in=[o.external_id for o in orders]
            ).values_list("external_id", flat=True)
        )
        fresh: dict[str, CartOrder] = {}
        for item in orders:
            if item.external_id not in existing:
                fresh.setdefault(item.external_id, item)
        try:
            with transaction.atomic():
                store.save(list(fresh.values()))
            break
        except IntegrityError:
            # Another request stored one of these ids between our read and our write: read
            # again, and that order is a duplicate now.
            if attempt:
                raise
    store.finish()
    stored = {
        o.external_id: o
        for o in Order.objects.filter(cart=cart, external_id__in=[o.external_id for o in orders])
    }
    results, seen = [], set()
    for item in orders:
        created = item.external_id in fresh and item.external_id not in seen
        seen.add(item.external_id)
        order = stored.get(item.external_id)
        status = "duplicate"
        if created:
            status = "created" if order is not None else "skipped_too_old"
        results.append(PushResult(external_id=item.external_id, status=status, order=order))
    return results
