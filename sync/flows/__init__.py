"""The six flows and the intervals each may run at (DESIGN §1)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.deconstruct import deconstructible

OFF = 0
DAILY = 24 * 60


class Flow(models.TextChoices):
    DOWNLOAD = "download", "Order download"
    DELIVERY = "delivery", "Order delivery"
    SHIP_CONFIRM = "ship_confirm", "Shipment confirmations"
    SHIPMENT_UPLOAD = "shipment_upload", "Shipment upload"
    INVENTORY = "inventory", "Inventory"
    INVENTORY_UPLOAD = "inventory_upload", "Inventory upload"


CART_FLOWS = (Flow.DOWNLOAD, Flow.SHIPMENT_UPLOAD, Flow.INVENTORY_UPLOAD)
MERCHANT_FLOWS = (Flow.DELIVERY, Flow.SHIP_CONFIRM, Flow.INVENTORY)

# The fastest schedule of each flow, in minutes; the slowest is daily for all.
FASTEST = {
    Flow.DOWNLOAD: 5,
    Flow.DELIVERY: 5,
    Flow.SHIP_CONFIRM: 15,
    Flow.SHIPMENT_UPLOAD: 15,
    Flow.INVENTORY: 60,
    Flow.INVENTORY_UPLOAD: 60,
}

_STEPS = [5, 10, 15, 30, 60, 120, 180, 240, 360, 480, 720, DAILY]


def _label(minutes: int) -> str:
    if minutes == DAILY:
        return "Daily"
    if minutes == 60:
        return "Hourly"
    if minutes % 60 == 0:
        return f"Every {minutes // 60} hours"
    return f"Every {minutes} minutes"


def interval_choices(flow: str) -> list[tuple[int, str]]:
    """Return the (minutes, label) choices a flow may be scheduled at, "Off" first."""
    fastest = FASTEST[Flow(flow)]
    return [(OFF, "Off")] + [(m, _label(m)) for m in _STEPS if m >= fastest]


@deconstructible
class IntervalValidator:
    """Accept only the intervals a flow may be scheduled at."""

    def __init__(self, flow: str) -> None:
        self.flow = str(flow)

    def __call__(self, value: int) -> None:
        if value not in {m for m, _ in interval_choices(self.flow)}:
            flow = Flow(self.flow)
            raise ValidationError(
                f"{value} minutes is not an allowed schedule for {flow.label.lower()}: "
                f"choose off, or from every {FASTEST[flow]} minutes to daily."
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalValidator) and other.flow == self.flow

    def __hash__(self) -> int:
        return hash(self.flow)


def interval_field(flow: str, default: int, **kwargs: object) -> models.PositiveIntegerField:
    """Return the model field for a flow's interval in minutes (0 = off)."""
    allowed = ", ".join(str(m) for m, _ in interval_choices(flow))
    return models.PositiveIntegerField(
        default=default,
        validators=[IntervalValidator(flow)],
        help_text=f"Minutes between runs, one of {allowed} (0 is off).",
        **kwargs,  # type: ignore[arg-type]
    )
