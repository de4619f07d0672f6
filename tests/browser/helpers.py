"""What every browser test uses: Chromium through Playwright, the worker's part, screenshots.

Playwright drives Debian's chromium (no browser download). The `browser` and `page` fixtures
live in conftest.py; the functions here are imported by the tests.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from django.urls import reverse

from sync.scheduler import schedule_run, schedules_claim

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"


def tick(*, until_ran: str = "") -> None:
    """Do what beat and a worker do: claim the due schedules and run them.

    With `until_ran`, tick again (bounded) until a run of that flow has happened: a schedule
    row another request holds locked for a moment is skipped by a claim, as in production.
    """
    for _ in range(50):
        ids, token = schedules_claim()
        flows = {run.flow for run in (schedule_run(pk, token) for pk in ids) if run is not None}
        if not until_ran or until_ran in flows:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {until_ran} run came in 50 ticks")


def shot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def log_in(page, email: str, password: str) -> None:
    page.goto(reverse("login"))
    page.fill('[name="username"]', email)
    page.fill('[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(re.compile(r".*/$"))
