"""Writes and adapter access for the account's WMS."""

from __future__ import annotations

from cartrover.adapters import AdapterError
from sync.health import connection_healthy
from wms.adapters import WMS_KINDS
from wms.adapters.base import WmsAdapter
from wms.models import WmsConfig


def wms_config_of(account_id: int) -> WmsConfig:
    """Return the account's WMS configuration, or say that there is none yet."""
    config = WmsConfig.objects.filter(account_id=account_id).first()
    if config is None:
        raise AdapterError("No WMS is set up for this account: set one up first.", permanent=True)
    return config


def wms_adapter(config: WmsConfig) -> WmsAdapter:
    """Return the adapter of the WMS's kind, bound to its credentials and settings."""
    adapter_class: type[WmsAdapter] = WMS_KINDS.adapter_class(config.kind)
    return adapter_class(
        credentials=config.credentials,
        settings=config.settings,
        connection_key=f"wms:{config.account_id}",
    )


def wms_test_connection(config: WmsConfig) -> tuple[bool, str]:
    """Try the WMS's credentials and settings; return (ok, a message a person can act on)."""

    try:
        message = wms_adapter(config).test_connection()
    except AdapterError as exc:
        return False, exc.message
    connection_healthy(config)
    return True, message


def ship_methods_load(config: WmsConfig) -> int:
    """Load the WMS's ship methods where it can list them; return how many are new."""
    from wms.models import WmsShipMethod

    added = 0
    for code, description, carrier in wms_adapter(config).fetch_ship_methods():
        _, created = WmsShipMethod.objects.update_or_create(
            account_id=config.account_id,
            code=code[:100],
            defaults={"description": description[:200], "carrier": carrier[:100]},
        )
        added += created
    return added
