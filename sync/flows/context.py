"""What every flow run shares: its context (schedule, time, counts, log), a lost lease."""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from cartrover.adapters import (
    MerchantRef,
)
from sync.models import Schedule


class LeaseLost(Exception):
    """Another worker holds the schedule now: stop without writing the run's end."""


@dataclass
class RunContext:
    """What a flow run knows (its schedule, the time) and reports (counts, log, cursor)."""

    schedule: Schedule
    now: datetime
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lines: list[str] = field(default_factory=list)
    partial: bool = False
    cursor: datetime | None = None
    heartbeat: Callable[[], None] = lambda: None
    # Set by a flow that had nothing to do and never called its cart or WMS: such a run says
    # nothing about the connection's health.
    idle: bool = False
    # The run stops taking up new work at this time.monotonic() value and goes on in its next
    # run; a run is always shorter than its lease and than the broker's redelivery timeout.
    deadline: float = field(default_factory=lambda: time.monotonic() + settings.SYNC_RUN_SECONDS)
    # Set by a flow that stopped at its deadline with work left: the next run comes at once.
    more: bool = False

    def out_of_time(self) -> bool:
        """Say whether the run has used its time; if so, note that work is left for the next."""
        if time.monotonic() < self.deadline:
            return False
        if not self.more:
            self.more = True
            self.log("Out of time for this run; the next run goes on at once.")
        return True

    def log(self, message: str) -> None:
        self.lines.append(f"{timezone.now():%H:%M:%S} {message}")

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def notes(self, adapter: Any) -> None:
        """Copy the adapter's own lines (per-file results, ...) into the log."""
        for line in adapter.notes:
            self.log(line)
        adapter.notes.clear()

    def item_failed(self, message: str) -> None:
        self.partial = True
        self.count("failed")
        self.log(message)


def merchant_ref(merchant: Any) -> MerchantRef:
    return MerchantRef(id=merchant.pk, name=merchant.name, settings=dict(merchant.wms_settings))


def payload_hash(raw: Any) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def aware(value: datetime | None) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        return value.replace(tzinfo=UTC)
    return value
