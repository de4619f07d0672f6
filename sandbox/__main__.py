"""Run one cart emulator standalone: `python -m sandbox shopify --port 8101 --orders 50`.

Prints the base URL and the sandbox credentials, then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import threading

from sandbox.bigcommerce import BigCommerceEmulator
from sandbox.server import LOOPBACK_HOSTS
from sandbox.shopify import ShopifyEmulator
from sandbox.woocommerce import WooCommerceEmulator

EmulatorType = ShopifyEmulator | WooCommerceEmulator | BigCommerceEmulator


def build(platform: str, *, rate_limit: bool) -> EmulatorType:
    """Return an emulator for `platform` with its default sandbox credentials."""
    if platform == "shopify":
        return ShopifyEmulator(rate_limit=rate_limit)
    if platform == "woocommerce":
        # WooCommerce has no documented rate limit, so there is nothing to switch off.
        return WooCommerceEmulator()
    if platform == "bigcommerce":
        return BigCommerceEmulator(rate_limit=rate_limit)
    raise ValueError(f"unknown platform {platform!r}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, seed and serve one emulator until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("platform", choices=("shopify", "woocommerce", "bigcommerce"))
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated orders")
    parser.add_argument("--orders", type=int, default=25, help="orders to generate")
    parser.add_argument(
        "--no-rate-limit", action="store_true", help="switch off Shopify/BigCommerce rate limits"
    )
    parser.add_argument(
        "--webhook-host",
        action="append",
        default=[],
        help="extra host webhooks may be sent to (loopback is always allowed)",
    )
    args = parser.parse_args(argv)

    emulator = build(args.platform, rate_limit=not args.no_rate_limit)
    emulator.webhook_hosts = LOOPBACK_HOSTS | set(args.webhook_host)
    emulator.generate_orders(args.orders, seed=args.seed)
    base_url = emulator.start(args.host, args.port)
    print(f"{args.platform} emulator serving {args.orders} orders at {base_url}")
    for name, value in emulator.credentials().items():
        print(f"  {name}: {value}")
    print("Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
