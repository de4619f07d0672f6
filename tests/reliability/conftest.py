"""Fixtures of the reliability suite: emulators on loopback, a clock the test moves."""

from __future__ import annotations

import pytest
from django.utils import timezone

from sandbox.clock import ManualClock


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    """Let the hub reach the emulators, which listen on 127.0.0.1."""
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture
def clock() -> ManualClock:
    """A clock the emulators read, starting now, that only moves when the test moves it."""
    return ManualClock(timezone.now().replace(microsecond=0))
