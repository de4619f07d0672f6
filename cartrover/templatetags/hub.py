"""Small template filters for the hub's screens."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from orders.models import OrderStatus

register = template.Library()
CHART_HEIGHT = 100


@register.filter
def status_label(value: str) -> str:
    """Return the label of an order status."""
    try:
        return str(OrderStatus(value).label)
    except ValueError:
        return value


@register.filter
def mul(value: int, factor: int) -> int:
    """Multiply two numbers (for chart geometry)."""
    return int(value) * int(factor)


@register.filter
def bar_height(value: int, peak: int) -> int:
    """Return the height of a chart bar for `value` on a scale topping out at `peak`."""
    return round(CHART_HEIGHT * int(value) / max(int(peak), 1))


@register.filter
def bar_top(value: int, peak: int) -> int:
    """Return where a chart bar starts so that bars stand on a common baseline."""
    return CHART_HEIGHT + 5 - bar_height(value, peak)


@register.filter
def local_when(value: datetime | None) -> str:
    """Return a moment in the current time zone with its abbreviation ("2026-11-01 01:30:00 EST").

    The abbreviation tells apart the two moments that share a wall-clock time in the hour the
    clocks go back, which Django's date filter cannot.
    """
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
