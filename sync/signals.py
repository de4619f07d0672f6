"""Keep schedule rows in step with the settings they come from, however those were saved."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from carts.models import CartConnection
from merchants.models import Merchant
from sync import health
from wms.models import WmsConfig


@receiver(post_save, sender=CartConnection)
def _cart_saved(sender: Any, instance: CartConnection, raw: bool = False, **_: Any) -> None:
    if raw:
        return
    health.schedules_sync_cart(instance)
    if settings.PUBLIC_URL and instance.active and instance.download_interval:
        from sync.tasks import cart_webhooks_register_task

        transaction.on_commit(lambda: cart_webhooks_register_task.delay(instance.pk))


@receiver(post_save, sender=Merchant)
def _merchant_saved(sender: Any, instance: Merchant, raw: bool = False, **_: Any) -> None:
    if not raw:
        health.schedules_sync_merchant(instance)


@receiver(post_save, sender=WmsConfig)
def _wms_saved(sender: Any, instance: WmsConfig, raw: bool = False, **_: Any) -> None:
    if not raw:
        health.schedules_sync_account(instance.account_id)
