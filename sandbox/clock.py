"""Clocks the emulators read time from, so a test can move time instead of sleeping."""

from __future__ import annotations

import email.utils
import threading
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """Tell the real time."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """Tell a time that only moves when a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime(2026, 10, 15, 12, 0, 0, tzinfo=UTC)).astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the frozen current time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the time forward by `seconds` and return the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to `moment`, which must be timezone-aware."""
        if moment.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware datetime")
        with self._lock:
            self._now = moment.astimezone(UTC)


def parse_datetime(text: str, assume: tzinfo = UTC) -> datetime:
    """Parse ISO-8601 (offset optional, `Z`, date only) or RFC-2822; naive input is in `assume`.

    Raises ValueError for anything else, so a handler can answer 400.
    """
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as error:
            raise ValueError(f"not a date: {text!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=assume)
    return moment
