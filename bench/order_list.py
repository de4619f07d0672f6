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

from bench.common import setup_django

ROUNDS = 15


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    args = parser.parse_args()
    database = setup_django(fresh=True)

    from django.test import Client
    from django.utils import timezone

    from api.services import api_key_create
    from carts.models import CartConnection
    from merchants.models import Membership, Merchant, Role, User
    from merchants.services import account_create
    from orders.models import Order, OrderLine

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
    rng = random.Random(3)
    statuses = ["new", "at_wms", "shipped", "confirmed", "confirmed", "confirmed", "held"]
    now = timezone.now()
    batch = 20_000
    for start in range(0, args.orders, batch):
        orders = Order.objects.bulk_create(
            [
                Order(
                    account=account,
                    merchant_id=carts[n % 50].merchant_id,
                    cart=carts[n % 50],
                    external_id=str(n),
                    order_number=f"#{100000 + n}",
                    order_source="Shop",
                    status=rng.choice(statuses),
                    customer_email=f"buyer{n}@example.com",
                    placed_at=now,
                    created_at=now - timezone.timedelta(seconds=args.orders - n),
                )
                for n in range(start, min(start + batch, args.orders))
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
