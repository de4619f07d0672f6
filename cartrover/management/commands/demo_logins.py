"""Print the demo's logins and emulated systems, for the banner `make run` ends with."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cartrover.demo import demo_logins, demo_systems


class Command(BaseCommand):
    help = "Print the demo's logins and where its emulated shops and warehouse listen."

    def handle(self, *args: Any, **options: Any) -> None:
        for login in demo_logins():
            self.stdout.write(f"{login.role}: {login.email} / {login.password}")
        shops = ", ".join(f"{s.url.rsplit(':', 1)[-1]}" for s in demo_systems() if "shop" in s.name)
        self.stdout.write(
            f"Emulated shops on 127.0.0.1 ports {shops}; their credentials are on the login page."
        )
