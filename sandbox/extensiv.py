"""An Extensiv 3PL Warehouse Manager REST emulator: token, orders, stock summaries, carriers.

Serves what `wms.adapters.extensiv` uses, the way the real API (`https://secure-wms.com`) is
known to answer. Deliberate behaviour worth knowing:

- Authentication: `POST /AuthServer/api/Token` with HTTP Basic (client id:secret) and a JSON
  body naming the user login id and the TPL GUID hands out a Bearer token that lives
  `expires_in` seconds of the emulator's clock; every other call needs a live token (401).
- Orders keep their id in `readOnly.orderId` only; `readOnly.status` is 0 open, 1 closed
  (shipped), 2 canceled, and `readOnly.isClosed` is true for both closed and canceled.
  `orderItems` come back with `detail=OrderItems` or `All`, `readOnly.packages` with
  `detail=Packages` or `All`.
- `GET /orders` understands an rql subset: clauses joined by `;` (and), each `path==value`,
  `path!=value`, `path=ge=value`, `=gt=`, `=le=`, `=lt=`; paths are dotted, any case
  (`ReadOnly.CustomerIdentifier.Id`, `referenceNum`). Unknown paths answer 400.
- Responses are camelCase or PascalCase (`casing`), the two shapes seen in the wild. Dates are
  ISO-8601 without an offset, in UTC.
- Error bodies (`ErrorCode`, `Hint`) and the `/properties/carriers` shape are not documented:
  they are this emulator's guess, which is why the adapter reads them leniently.
- A duplicate `referenceNum` of one customer is accepted (a second order) or refused with 400,
  as `duplicates` says; the real behaviour is not documented.
"""

from __future__ import annotations

import base64
import copy
import functools
import operator
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import Clock, parse_datetime
from sandbox.server import Emulator, Request, Response, json_response

# Well-known sandbox credentials, printed by `python -m sandbox.extensiv`; never real ones.
SANDBOX_CLIENT_ID = "sandbox-client-0000"
SANDBOX_CLIENT_SECRET = "sandbox-secret-0000000000000000"  # noqa: S105
SANDBOX_USER_LOGIN_ID = "1"
SANDBOX_TPL = "{00000000-0000-4000-8000-000000000001}"
TOKEN_PATH = "/AuthServer/api/Token"  # noqa: S105 (a path, not a password)
MAX_PAGE_SIZE = 1000
HAL_JSON = "application/hal+json; charset=utf-8"
OPEN, CLOSED, CANCELED = 0, 1, 2
DEFAULT_CARRIERS: list[dict[str, Any]] = [
    {
        "carrier": "UPS",
        "scacCode": "UPSN",
        "modes": [
            {"mode": "GROUND", "description": "UPS Ground"},
            {"mode": "2DAY", "description": "UPS 2nd Day Air"},
        ],
        "billingCodes": ["Prepaid", "BillThirdParty"],
    },
    {
        "carrier": "FedEx",
        "scacCode": "FDEG",
        "modes": [{"mode": "FEDEX_GROUND", "description": "FedEx Ground"}],
        "billingCodes": ["Prepaid"],
    },
]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "=ge=": operator.ge,
    "=gt=": operator.gt,
    "=le=": operator.le,
    "=lt=": operator.lt,
}
# Longest first, so "=ge=" is not read as "=" followed by "ge=".
_OPERATORS = ("=ge=", "=gt=", "=le=", "=lt=", "==", "!=")


class RqlError(ValueError):
    """An rql expression the emulator does not understand."""


def wms_date(moment: datetime) -> str:
    """Format `moment` as the API does: ISO-8601, milliseconds, no offset (UTC)."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds")


def pascal(payload: Any) -> Any:
    """Return `payload` with every key's first letter upper-cased (`readOnly` -> `ReadOnly`)."""
    if isinstance(payload, dict):
        return {
            (key if key.startswith("_") else key[:1].upper() + key[1:]): pascal(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [pascal(value) for value in payload]
    return payload


def lookup(record: dict[str, Any], path: str) -> Any:
    """Return the value at dotted `path` in `record`, matching keys case-insensitively.

    Raises KeyError for a path the record's shape does not have.
    """
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            raise KeyError(path)
        keys = {key.lower(): key for key in value}
        if part.lower() not in keys:
            raise KeyError(path)
        value = value[keys[part.lower()]]
    return value


def rql_filter(rql: str) -> Callable[[dict[str, Any]], bool]:
    """Return a predicate for `rql` (clauses joined by `;`); raise RqlError when unreadable."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for clause in (part.strip() for part in rql.split(";")):
        if not clause:
            continue
        for symbol in _OPERATORS:
            path, found, raw = clause.partition(symbol)
            if found and path:
                checks.append(_clause(path.strip(), symbol, raw.strip().strip("\"'")))
                break
        else:
            raise RqlError(f"Cannot read rql clause {clause!r}.")
    return lambda record: all(check(record) for check in checks)


def _clause(path: str, symbol: str, raw: str) -> Callable[[dict[str, Any]], bool]:
    compare = _COMPARE[symbol]

    def check(record: dict[str, Any]) -> bool:
        try:
            value = lookup(record, path)
        except KeyError:
            raise RqlError(f"Unknown rql field {path!r}.") from None
        if value is None:
            return symbol == "!=" and raw.lower() != "null"
        return compare(value, _coerce(raw, value, path))

    return check


def _coerce(raw: str, like: Any, path: str) -> Any:
    """Read `raw` as the type of `like`, the record's value."""
    try:
        if isinstance(like, bool):
            return raw.lower() == "true"
        if isinstance(like, int | float):
            return type(like)(raw)
        if isinstance(like, str) and path.lower().endswith("date"):
            return wms_date(parse_datetime(raw))
    except ValueError:
        raise RqlError(f"Cannot compare {path!r} with {raw!r}.") from None
    return raw


class ExtensivEmulator(Emulator):
    """One Extensiv 3PL Warehouse Manager with one REST API client (client id and secret)."""

    name = "extensiv"

    def __init__(
        self,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        user_login_id: str = SANDBOX_USER_LOGIN_ID,
        tpl: str = SANDBOX_TPL,
        expires_in: int = 1800,
        casing: str = "camel",
        duplicates: str = "accept",
        unknown_skus: set[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if casing not in ("camel", "pascal"):
            raise ValueError("casing must be camel or pascal")
        if duplicates not in ("accept", "reject"):
            raise ValueError("duplicates must be accept or reject")
        self.client_id = client_id
        self.client_secret = client_secret
        self.user_login_id = user_login_id
        self.tpl = tpl
        self.expires_in = expires_in
        self.casing = casing
        self.duplicates = duplicates
        # SKUs the warehouse does not know: an order naming one is refused with 400.
        self.unknown_skus: set[str] = set(unknown_skus or ())
        self.carriers: list[dict[str, Any]] = copy.deepcopy(DEFAULT_CARRIERS)
        self.tokens: dict[str, datetime] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.stock: dict[tuple[int, int, str], dict[str, Any]] = {}
        self._ids: dict[str, int] = {}
        self._lose_answers = 0
        self._lose_after = 0.0
        self._lost: set[int] = set()
        self._stale_searches = 0
        self._register_routes()

    # -- public helpers ----------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        """Return what the hub's Extensiv connection needs to talk to this emulator."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "user_login_id": self.user_login_id,
            "tpl": self.tpl,
        }

    def expire_tokens(self) -> None:
        """Make every token handed out so far expire now (as if its lifetime ran out)."""
        with self.lock:
            self.tokens.clear()

    def lose_next_answers(self, count: int = 1, *, after: float = 0.0) -> None:
        """Create the next `count` orders, then close the connection without an answer.

        `after` seconds pass before the connection closes: the client sees a timeout or a
        dropped connection, while the order exists (a timeout after commit).
        """
        with self.lock:
            self._lose_answers = count
            self._lose_after = after

    def stale_searches(self, count: int = 1) -> None:
        """Answer the next `count` order searches with nothing, like a lagging search index."""
        with self.lock:
            self._stale_searches = count

    def order(self, order_id: int) -> dict[str, Any]:
        """Return a copy of one stored order (camelCase, every detail)."""
        with self.lock:
            return copy.deepcopy(self.orders[order_id])

    def orders_with_reference(self, reference: str) -> list[dict[str, Any]]:
        """Return copies of the orders whose referenceNum is `reference`."""
        with self.lock:
            return [
                copy.deepcopy(o) for o in self.orders.values() if o["referenceNum"] == reference
            ]

    def ship(
        self,
        order_id: int,
        packages: list[dict[str, Any]] | None = None,
        *,
        tracking: str | None = None,
    ) -> dict[str, Any]:
        """Close an order as shipped, with `packages` [{tracking, items: [(sku, qty)]}].

        Without packages one package holds every line. `packages=[]` with `tracking` ships
        without packages, the tracking number only in `routingInfo.trackingNumber`.
        """
        with self.lock:
            order = self.orders[order_id]
            items = order["orderItems"]
            by_sku = {item["itemIdentifier"]["sku"]: item for item in items}
            if packages is None:
                packages = [
                    {
                        "tracking": tracking or f"1Z{order_id:010d}",
                        "items": [(i["itemIdentifier"]["sku"], i["qty"]) for i in items],
                    }
                ]
            stored = []
            for package in packages:
                contents = [
                    {
                        "orderItemId": by_sku[sku]["readOnly"]["orderItemId"],
                        "qty": qty,
                        "lotNumber": None,
                        "serialNumber": None,
                    }
                    for sku, qty in package.get("items", [])
                ]
                stored.append(
                    {
                        "packageId": self._next_id("package"),
                        "trackingNumber": package.get("tracking"),
                        "packageContents": contents,
                    }
                )
            now = wms_date(self.clock.now())
            readonly = order["readOnly"]
            readonly.update(
                status=CLOSED, isClosed=True, processDate=now, shipDate=now, packages=stored
            )
            first = next((p["trackingNumber"] for p in stored if p["trackingNumber"]), None)
            order["routingInfo"]["trackingNumber"] = tracking or first
            self._touch(order)
            return copy.deepcopy(order)

    def cancel(self, order_id: int) -> dict[str, Any]:
        """Cancel an order: closed, status 2, never shipped."""
        with self.lock:
            order = self.orders[order_id]
            order["readOnly"].update(status=CANCELED, isClosed=True)
            self._touch(order)
            return copy.deepcopy(order)

    def set_stock(
        self,
        customer_id: int,
        facility_id: int,
        sku: str,
        available: int,
        *,
        on_hand: int | None = None,
        qualifier: str = "",
    ) -> None:
        """Set one stock summary line (a SKU of a customer in a facility)."""
        with self.lock:
            on_hand = available if on_hand is None else on_hand
            self.stock[(customer_id, facility_id, sku)] = {
                "facilityId": facility_id,
                "customerIdentifier": {"id": customer_id},
                "itemIdentifier": {"sku": sku, "id": self._item_id(customer_id, sku)},
                "qualifier": qualifier,
                "totalReceived": on_hand,
                "allocated": max(0, on_hand - available),
                "available": available,
                "onHold": 0,
                "onHand": on_hand,
                "orderedNotAllocated": 0,
            }

    # -- plumbing ----------------------------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _item_id(self, customer_id: int, sku: str) -> int:
        key = f"item:{customer_id}:{sku}"
        if key not in self._ids:
            self._ids[key] = self._next_id("item")
        return self._ids[key]

    def _touch(self, order: dict[str, Any]) -> None:
        order["readOnly"]["lastModifiedDate"] = wms_date(self.clock.now())
        order["_version"] += 1

    def _answer(
        self, payload: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        shaped = pascal(payload) if self.casing == "pascal" else payload
        return json_response(shaped, status, headers, content_type=HAL_JSON)

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Answer an error as `{ErrorCode, Hint, Properties}` (the emulator's guess)."""
        code = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound"}.get(status, "Error")
        return self._answer({"errorCode": code, "hint": message, "properties": []}, status)

    def _refuse(self, status: int, code: str, hint: str) -> Response:
        return self._answer({"errorCode": code, "hint": hint, "properties": []}, status)

    def handle(self, request: Request) -> Response | None:
        """Answer `request`; drop the answer of an order created while answers are lost."""
        response = super().handle(request)
        with self.lock:
            lost = id(request) in self._lost
            self._lost.discard(id(request))
            wait = self._lose_after
        if lost:
            if wait:
                self._stopping.wait(wait)
            return None
        return response

    def before(self, request: Request) -> Response | None:
        """Require a live Bearer token everywhere but the token endpoint."""
        if request.path == TOKEN_PATH:
            return None
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        with self.lock:
            expires = self.tokens.get(token) if scheme.lower() == "bearer" else None
            if expires is not None and expires <= self.clock.now():
                del self.tokens[token]
                expires = None
        if expires is None:
            return self._refuse(401, "Unauthorized", "The access token is missing or expired.")
        return None

    def _register_routes(self) -> None:
        self.route("POST", TOKEN_PATH, self._token)
        self.route("POST", r"/orders", self._create_order)
        self.route("GET", r"/orders", self._list_orders)
        self.route("GET", r"/orders/(?P<order_id>\d+)", self._get_order)
        self.route("POST", r"/orders/(?P<order_id>\d+)/canceler", self._cancel_order)
        self.route("GET", r"/inventory/stocksummaries", self._stock_summaries)
        self.route("GET", r"/properties/carriers", self._carriers)

    # -- handlers ----------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
        try:
            pair = base64.b64decode(encoded, validate=True).decode("utf-8")
        except ValueError:
            pair = ""
        client_id, _, client_secret = pair.partition(":")
        body = request.body if isinstance(request.body, dict) else {}
        login = str(body.get("user_login_id") or body.get("user_login") or "")
        tpl = str(body.get("tpl") or body.get("tplguid") or "")
        valid = (
            scheme.lower() == "basic"
            and secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(client_secret, self.client_secret)
            and body.get("grant_type") == "client_credentials"
            and login == self.user_login_id
            and tpl.strip("{}").lower() == self.tpl.strip("{}").lower()
        )
        if not valid:
            return json_response(
                {"error": "invalid_client", "error_description": "Invalid client credentials."},
                401,
            )
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = self.clock.now() + timedelta(seconds=self.expires_in)
        return json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "refresh_token": None,
                "scope": None,
            }
        )

    def _create_order(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        try:
            customer_id = int(lookup(body, "customerIdentifier.id"))
            facility_id = int(lookup(body, "facilityIdentifier.id"))
        except (KeyError, TypeError, ValueError):
            return self._refuse(
                400, "MissingField", "customerIdentifier.id and facilityIdentifier.id are required."
            )
        reference = str(_get(body, "referenceNum") or "")
        items = _get(body, "orderItems") or []
        if not reference or not isinstance(items, list) or not items:
            return self._refuse(400, "MissingField", "referenceNum and orderItems are required.")
        skus = [str(_get(_get(item, "itemIdentifier") or {}, "sku") or "") for item in items]
        unknown = sorted({sku for sku in skus if not sku or sku in self.unknown_skus})
        if unknown:
            return self._refuse(
                400,
                "ItemNotFound",
                f"Item(s) {', '.join(unknown)} not found for customer {customer_id}.",
            )
        with self.lock:
            taken = any(
                o["referenceNum"] == reference
                and o["readOnly"]["customerIdentifier"]["id"] == customer_id
                and o["readOnly"]["status"] != CANCELED
                for o in self.orders.values()
            )
            if taken and self.duplicates == "reject":
                return self._refuse(
                    400,
                    "DuplicateReferenceNum",
                    f"Reference number {reference} already exists for customer {customer_id}.",
                )
            order = self._store_order(body, customer_id, facility_id, reference, skus, items)
            if self._lose_answers > 0:
                self._lose_answers -= 1
                self._lost.add(id(request))
            shown = _detailed(order, "All")
            version = order["_version"]
        return self._answer(
            shown,
            201,
            {"ETag": f'"{version}"', "Location": f"/orders/{order['readOnly']['orderId']}"},
        )

    def _store_order(
        self,
        body: dict[str, Any],
        customer_id: int,
        facility_id: int,
        reference: str,
        skus: list[str],
        items: list[Any],
    ) -> dict[str, Any]:
        order_id = self._next_id("order")
        now = wms_date(self.clock.now())
        routing = dict(_get(body, "routingInfo") or {})
        routing.setdefault("trackingNumber", None)
        order = {
            "_version": 1,
            "readOnly": {
                "orderId": order_id,
                "status": OPEN,
                "isClosed": False,
                "creationDate": now,
                "lastModifiedDate": now,
                "processDate": None,
                "shipDate": None,
                "customerIdentifier": {"id": customer_id, "name": f"Customer {customer_id}"},
                "facilityIdentifier": {"id": facility_id, "name": f"Facility {facility_id}"},
                "packages": [],
            },
            "customerIdentifier": {"id": customer_id},
            "facilityIdentifier": {"id": facility_id},
            "referenceNum": reference,
            "notes": _get(body, "notes"),
            "routingInfo": routing,
            "shipTo": copy.deepcopy(_get(body, "shipTo") or {}),
            "orderItems": [
                {
                    "readOnly": {"orderItemId": self._next_id("orderItem")},
                    "itemIdentifier": {"sku": sku, "id": self._item_id(customer_id, sku)},
                    "qty": _get(item, "qty"),
                }
                for sku, item in zip(skus, items, strict=True)
            ],
        }
        self.orders[order_id] = order
        return order

    def _get_order(self, request: Request) -> Response:
        with self.lock:
            order = self.orders.get(int(request.params["order_id"]))
            if order is None:
                return self._refuse(404, "NotFound", "No such order.")
            shown = _detailed(order, request.arg("detail") or "")
            version = order["_version"]
        return self._answer(shown, headers={"ETag": f'"{version}"'})

    def _cancel_order(self, request: Request) -> Response:
        """Cancel an open order, as the canceler resource does: the caller must name the
        version it read (If-Match: the order's ETag) and give a reason."""
        match = request.header("If-Match")
        body = request.body if request.body_is_valid_json else None
        reason = body.get("reason") if isinstance(body, dict) else None
        with self.lock:
            order = self.orders.get(int(request.params["order_id"]))
            if order is None:
                return self._refuse(404, "NotFound", "No such order.")
            if not match:
                return self._refuse(428, "PreconditionRequired", "If-Match is required.")
            if match.strip() != f'"{order["_version"]}"':
                return self._refuse(
                    412, "PreconditionFailed", "The order changed since its ETag was read."
                )
            if not isinstance(reason, str) or not reason.strip():
                return self._refuse(400, "Validation", "A reason is required.")
            status = order["readOnly"]["status"]
            if status == CANCELED:
                return self._refuse(400, "InvalidState", "The order is already canceled.")
            if order["readOnly"]["isClosed"]:
                return self._refuse(400, "InvalidState", "The order is closed: it shipped.")
            order["readOnly"].update(status=CANCELED, isClosed=True)
            order["_cancelReason"] = reason
            self._touch(order)
            shown = _detailed(order, "")
            version = order["_version"]
        return self._answer(shown, headers={"ETag": f'"{version}"'})

    def _list_orders(self, request: Request) -> Response:
        paging = _paging(request)
        if isinstance(paging, Response):
            return paging
        size, number = paging
        try:
            keep = rql_filter(request.arg("rql") or "")
            with self.lock:
                stale = self._stale_searches > 0
                if stale:
                    self._stale_searches -= 1
                found = [] if stale else [o for o in self.orders.values() if keep(o)]
                found = _sorted(found, request.arg("sort") or "")
                detail = request.arg("detail") or ""
                page = [_detailed(o, detail) for o in found[(number - 1) * size : number * size]]
        except RqlError as error:
            return self._refuse(400, "InvalidRql", str(error))
        return self._answer({"totalResults": len(found), "resourceList": page})

    def _stock_summaries(self, request: Request) -> Response:
        paging = _paging(request)
        if isinstance(paging, Response):
            return paging
        size, number = paging
        try:
            keep = rql_filter(request.arg("rql") or "")
            with self.lock:
                found = [
                    copy.deepcopy(s)
                    for _, s in sorted(self.stock.items(), key=lambda kv: kv[0])
                    if keep(s)
                ]
        except RqlError as error:
            return self._refuse(400, "InvalidRql", str(error))
        page = found[(number - 1) * size : number * size]
        return self._answer({"totalResults": len(found), "summaries": page})

    def _carriers(self, request: Request) -> Response:
        with self.lock:
            carriers = copy.deepcopy(self.carriers)
        return self._answer({"totalResults": len(carriers), "resourceList": carriers})


def _get(record: Any, name: str) -> Any:
    """Return key `name` of `record` in any case (clients send camelCase or PascalCase)."""
    if not isinstance(record, dict):
        return None
    for key, value in record.items():
        if key.lower() == name.lower():
            return value
    return None


def _paging(request: Request) -> tuple[int, int] | Response:
    try:
        size = int(request.arg("pgsiz") or 100)
        number = int(request.arg("pgnum") or 1)
    except ValueError:
        size = number = 0
    if not 1 <= size <= MAX_PAGE_SIZE or number < 1:
        return json_response(
            {"errorCode": "BadRequest", "hint": f"pgsiz must be 1..{MAX_PAGE_SIZE}, pgnum >= 1."},
            400,
        )
    return size, number


def _sorted(orders: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    orders = sorted(orders, key=lambda o: o["readOnly"]["orderId"])
    for field in reversed([part.strip() for part in sort.split(",") if part.strip()]):
        descending = field.startswith("-")
        path = field.lstrip("+-")
        orders.sort(key=functools.partial(_sort_key, path), reverse=descending)
    return orders


def _sort_key(path: str, order: dict[str, Any]) -> tuple[bool, Any]:
    try:
        value = lookup(order, path)
    except KeyError:
        raise RqlError(f"Unknown sort field {path!r}.") from None
    return (value is not None, value if value is not None else 0)


def _detailed(order: dict[str, Any], detail: str) -> dict[str, Any]:
    """Return a copy of `order` showing what `detail` asks for (items, packages)."""
    wanted = {part.strip().lower() for part in detail.split(",") if part.strip()}
    shown = copy.deepcopy({k: v for k, v in order.items() if not k.startswith("_")})
    everything = "all" in wanted
    if not (everything or "orderitems" in wanted):
        shown.pop("orderItems", None)
    if not (everything or "packages" in wanted):
        shown["readOnly"].pop("packages", None)
    return shown


def main(argv: list[str] | None = None) -> int:
    """Serve an emulator with a little stock until interrupted: `python -m sandbox.extensiv`."""
    import argparse
    import threading

    parser = argparse.ArgumentParser(prog="python -m sandbox.extensiv", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--expires-in", type=int, default=1800, help="token lifetime, seconds")
    parser.add_argument("--casing", choices=("camel", "pascal"), default="camel")
    parser.add_argument("--duplicates", choices=("accept", "reject"), default="accept")
    parser.add_argument("--customer", type=int, default=1, help="customer id to stock")
    parser.add_argument("--facility", type=int, default=1, help="facility id to stock")
    args = parser.parse_args(argv)

    emulator = ExtensivEmulator(
        expires_in=args.expires_in, casing=args.casing, duplicates=args.duplicates
    )
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        emulator.set_stock(args.customer, args.facility, sku, 100)
    base_url = emulator.start(args.host, args.port)
    print(f"extensiv emulator at {base_url} (customer {args.customer}, facility {args.facility})")
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
    raise SystemExit(main())
