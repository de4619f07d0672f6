"""Run the demo's emulated shops and warehouse, and press "Run now" for the slow flows.

Real installations wait for their schedules (shipment confirmations every 15 minutes at the
fastest); the demo presses "Run now" on them every few seconds, exactly as a user could, so a
newcomer sees orders reach every status within a minute.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from cartrover.adapters import AdapterError
from carts.models import CartConnection
from carts.services import cart_webhooks_register
from sandbox.demo import Demo
from sync.models import Schedule, Trigger
from sync.scheduler import schedule_run_now

POKED_FLOWS = ("ship_confirm", "shipment_upload", "inventory", "inventory_upload", "delivery")


class Command(BaseCommand):
    help = "Run the demo's emulated shops and warehouse until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--poke-every",
            type=float,
            default=15.0,
            help="Seconds between presses of Run now on the slow flows.",
        )
        parser.add_argument(
            "--order-every",
            type=float,
            default=float(os.environ.get("DEMO_ORDER_EVERY_SECONDS", "20")),
            help="Seconds between new orders, on average (DEMO_ORDER_EVERY_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        demo = Demo(
            order_every_seconds=options["order_every"],
            pause_file=settings.VAR_DIR / "demo-orders-paused",
            ledger_file=settings.VAR_DIR / "demo-ledger.json",
        )
        demo.start()
        self.stdout.write("Demo shops and warehouse are running.")
        # The emulators keep no state across restarts: subscribe the carts' webhooks again.
        for cart in CartConnection.objects.filter(active=True):
            try:
                topics = cart_webhooks_register(cart)
                self.stdout.write(f"{cart}: webhooks for {', '.join(topics) or 'nothing'}")
            except AdapterError as exc:
                self.stderr.write(f"{cart}: webhooks not registered: {exc.message}")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(options["poke_every"]):
                for schedule in Schedule.objects.filter(enabled=True, flow__in=POKED_FLOWS):
                    schedule_run_now(schedule, trigger=Trigger.MANUAL)
        finally:
            demo.stop()
