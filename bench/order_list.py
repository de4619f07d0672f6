"""Order list: p50 and p95 latency of the orders page and the orders API, filtered and searched.

Orders are spread over 50 merchants. Baseline, same run: a trivial page of the same server
(the login page). Requests go through Django's full stack in this process. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import time

from bench.common import setup_django, timed

ROUNDS = 15


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    args = parser.parse_args()
    database = setup_django(fresh=True)

    from django.db import connection
    from django.test import Client

    from api.services import api_key_create
    from carts.models import CartConnection
    from merchants.models import Membership, Merchant, Role, User
    from merchants.services import account_create

    account = account_create(name="Bench 3PL")
    merchants = Merchant.objects.bulk_create(
        [Merchant(account=account, name=f"Merchant {n}") for n in range(50)]
    )
    carts = CartConnection.objects.bulk_create(
        [
            CartConnection(account=account, merchant=m, kind="dummy", order_source=f"Shop {m.name}")
            for m in merchants
        ]
    )
    with timed() as build:
        if connection.vendor == "postgresql":
            _fill_postgresql(account.pk, carts, args.orders)
        else:
            _fill_orm(account, carts, args.orders)
    user = User.objects.create_user("bench@example.com", "bench-password-123")
    Membership.objects.create(user=user, account=account, role=Role.STAFF)
    key, secret = api_key_create(account=account, level="warehouse", name="bench")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    anonymous = Client(HTTP_HOST="localhost")
    api_auth = "Basic " + base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    middle = args.orders // 2
    pages = {
        "page: all": "/orders/",
        "page: status new": "/orders/?status=new",
        "page: merchant + open": f"/orders/?merchant={merchants[7].pk}&status=open",
        "page: search number": f"/orders/?q=%23{100000 + middle}",
        "page: search email": f"/orders/?q=buyer{middle}@example.com",
        "page: search SKU": "/orders/?q=SKU-4321",
        "api: status new": "/api/v1/orders/?status=new&limit=100",
        "api: updated since": "/api/v1/orders/?updated_since=2000-01-01T00:00:00Z&limit=100",
    }
    baseline = _latencies(anonymous, "/accounts/login/", {})
    results = {}
    for label, url in pages.items():
        headers = {"HTTP_AUTHORIZATION": api_auth} if label.startswith("api") else {}
        results[label] = _latencies(client, url, headers)
    every = [t for times in results.values() for t in times]
    print(
        json.dumps(
            {
                "benchmark": "order_list",
                "database": database,
                "orders": args.orders,
                "build_seconds": round(build["seconds"], 1),
                "p50_ms": _ms(statistics.median(every)),
                "p95_ms": _ms(_p95(every)),
                "baseline_p50_ms": _ms(statistics.median(baseline)),
                "baseline_p95_ms": _ms(_p95(baseline)),
                "per_request": {
                    k: {"p50_ms": _ms(statistics.median(v)), "p95_ms": _ms(_p95(v))}
                    for k, v in results.items()
                },
            }
        )
    )


STATUSES = ["new", "at_wms", "shipped", "confirmed", "confirmed", "confirmed", "held"]


def _fill_postgresql(account_id: int, carts: list, count: int) -> None:  # type: ignore[type-arg]
    """Insert `count` orders with one line each in two INSERT … SELECT statements."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orders_order (
                account_id, merchant_id, cart_id, external_id, order_number, order_source,
                status, hold_reasons, placed_at, customer_name, customer_email, ship_to,
                bill_to, ship_method_code, currency, notes, raw_payload, payload_hash,
                delivery_reference, delivery_attempts, last_error, created_at, updated_at)
            SELECT %s, (%s::int[])[n %% 50 + 1], (%s::int[])[n %% 50 + 1], n::text,
                '#' || (100000 + n), 'Shop', (%s::text[])[(n::bigint * 7919) %% 7 + 1], '[]', now(),
                '', 'buyer' || n || '@example.com', '{}', '{}', '', '', '', '{}', '', '', 0,
                '', now() - (%s - n) * interval '1 second', now()
            FROM generate_series(0, %s - 1) AS n
            """,
            [
                account_id,
                [c.merchant_id for c in carts],
                [c.pk for c in carts],
                STATUSES,
                count,
                count,
            ],
        )
        cursor.execute(
            """
            INSERT INTO orders_orderline
                (account_id, order_id, line_id, sku, wms_sku, name, quantity)
            SELECT account_id, id, '', 'SKU-' || (external_id::int %% 5000),
                'SKU-' || (external_id::int %% 5000), '', 1
            FROM orders_order WHERE account_id = %s
            """,
            [account_id],
        )
        cursor.execute("ANALYZE orders_order")
        cursor.execute("ANALYZE orders_orderline")


def _fill_orm(account, carts: list, count: int) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Insert `count` orders with one line each through bulk_create (SQLite)."""
    from django.utils import timezone

    from orders.models import Order, OrderLine

    rng = random.Random(3)
    now = timezone.now()
    batch = 20_000
    for start in range(0, count, batch):
        orders = Order.objects.bulk_create(
            [
                Order(
                    account=account,
                    merchant_id=carts[n % 50].merchant_id,
                    cart=carts[n % 50],
                    external_id=str(n),
                    order_number=f"#{100000 + n}",
                    order_source="Shop",
                    status=rng.choice(STATUSES),
                    customer_email=f"buyer{n}@example.com",
                    placed_at=now,
                    created_at=now - timezone.timedelta(seconds=count - n),
                )
                for n in range(start, min(start + batch, count))
            ]
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    account=account,
                    order=o,
                    sku=f"SKU-{int(o.external_id) % 5000}",
                    wms_sku=f"SKU-{int(o.external_id) % 5000}",
                    quantity=1,
                )
                for o in orders
            ]
        )


def _latencies(client, url: str, headers: dict[str, str]) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = client.get(url, **headers)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return times[2:]  # the first requests warm caches


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


if __name__ == "__main__":
    main()
