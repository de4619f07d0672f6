"""A Shopify emulator for the benchmarks: seed orders widened to the spec's line count.

Run as `python -m bench.shop --orders 100000`: prints the base URL once serving, then serves
until terminated. In-process callers use `build_shop`.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import threading
from dataclasses import replace
from typing import Any

from sandbox import seed as seed_data
from sandbox.shopify import ShopifyEmulator

LINES_PER_ORDER = 3


def widened_specs(count: int, seed: int, lines: int = LINES_PER_ORDER) -> list[Any]:
    """Return the emulator's seed order specs, padded so orders average `lines` lines."""
    from datetime import UTC, datetime

    specs = seed_data.order_specs(count, seed, datetime.now(UTC))
    physical = [v.sku for p, v in seed_data.all_variants() if p.requires_shipping]
    wanted_cycle = (lines - 1, lines, lines + 1)
    widened = []
    for index, spec in enumerate(specs):
        wanted = wanted_cycle[index % 3]
        have = {line.sku for line in spec.lines}
        extra = [
            seed_data.LineSpec(sku, 1 + index % 2)
            for sku in physical[index % len(physical) :] + physical[: index % len(physical)]
            if sku not in have
        ]
        missing = max(0, wanted - len(spec.lines))
        widened.append(replace(spec, lines=spec.lines + tuple(extra[:missing])))
    return widened


def build_shop(orders: int, *, seed: int = 1, rate_limit: bool = False) -> ShopifyEmulator:
    """Return an emulator (not started) holding `orders` orders of about 3 lines each."""
    import gc

    shop = ShopifyEmulator(rate_limit=rate_limit)
    collecting = gc.isenabled()
    gc.disable()  # the orders hold no cycles; collecting as the heap grows costs quadratic time
    try:
        for spec in widened_specs(orders, seed):
            shop.add_order(spec, notify=False)
    finally:
        if collecting:
            gc.enable()
    # Everything built so far lives as long as the process: keep the collector off it.
    gc.freeze()
    return shop


def serve_on_more_addresses(shop: ShopifyEmulator, count: int) -> list[str]:
    """Also serve `shop` on 127.0.0.2, 127.0.0.3, … (loopback all); return every base URL.

    The hub keeps one rate-limit bucket per shop address, as Shopify does per shop, so many
    carts of many shops need many addresses. One thread accepts on all of them and hands each
    connection to the emulator's own server.
    """
    server = shop._server
    assert server is not None
    port = int(shop.base_url.rsplit(":", 1)[1])
    selector = selectors.DefaultSelector()
    urls = [shop.base_url]
    for n in range(2, count + 1):
        host = f"127.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        listener = socket.create_server((host, port))
        listener.setblocking(False)
        selector.register(listener, selectors.EVENT_READ)
        urls.append(f"http://{host}:{port}")

    def accept() -> None:
        while True:
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    continue
                connection.setblocking(True)
                server.process_request(connection, address)

    threading.Thread(target=accept, name="shop-addresses", daemon=True).start()
    return urls


def main() -> None:
    """Build the shop, print its URL(s) and serve until terminated."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--addresses", type=int, default=1)
    args = parser.parse_args()
    shop = build_shop(args.orders, seed=args.seed)
    shop.set_latency(args.latency)
    lines = sum(len(o["line_items"]) for o in shop.orders.values())
    shop.start()
    urls = serve_on_more_addresses(shop, args.addresses) if args.addresses > 1 else [shop.base_url]
    print(f"shop with {args.orders} orders ({lines} lines) at {' '.join(urls)}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
