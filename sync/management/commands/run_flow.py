"""Run one flow for one cart or merchant now, in this process, and print what it did."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carts.models import CartConnection
from merchants.models import Merchant
from sync.flows import CART_FLOWS, Flow
from sync.health import schedules_sync_cart, schedules_sync_merchant
from sync.models import Schedule
from sync.scheduler import schedule_run_once


class Command(BaseCommand):
    help = "Run one flow for one cart (--cart) or merchant (--merchant) now and print the run."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("flow", choices=[f.value for f in Flow])
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--cart", type=int, help="Cart connection id (cart flows).")
        target.add_argument("--merchant", type=int, help="Merchant id (merchant flows).")

    def handle(self, *args: Any, **options: Any) -> None:
        flow = options["flow"]
        if flow in CART_FLOWS:
            if not options["cart"]:
                raise CommandError(f"{flow} runs per cart: pass --cart ID.")
            cart = CartConnection.objects.filter(pk=options["cart"]).first()
            if cart is None:
                raise CommandError(f"No cart connection {options['cart']}.")
            schedules_sync_cart(cart)
            schedule = Schedule.objects.get(cart=cart, flow=flow)
        else:
            if not options["merchant"]:
                raise CommandError(f"{flow} runs per merchant: pass --merchant ID.")
            merchant = Merchant.objects.filter(pk=options["merchant"]).first()
            if merchant is None:
                raise CommandError(f"No merchant {options['merchant']}.")
            schedules_sync_merchant(merchant)
            schedule = Schedule.objects.get(merchant=merchant, cart=None, flow=flow)
        run = schedule_run_once(schedule)
        if run is None:
            raise CommandError(f"{schedule} is running elsewhere right now; try again shortly.")
        self.stdout.write(f"{schedule}: {run.get_outcome_display()}")
        for key, value in sorted(run.counts.items()):
            self.stdout.write(f"  {key}: {value}")
        if run.error:
            self.stdout.write(f"  error: {run.error}")
        if run.log:
            self.stdout.write(run.log)
