"""Platform-neutral catalogue, customers and orders every emulator seeds itself from.

`order_specs(n, seed, now)` is deterministic: the same seed and clock give the same orders. The
first ten orders cover one edge case each (right-to-left names, digital goods without a shipping
address, lines without SKU, cancelled and refunded orders, a ship method nobody mapped); the rest
are random mixes of the same ingredients.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

Outcome = Literal["paid", "pending", "cancelled", "refunded", "partially_refunded", "fulfilled"]


@dataclass(frozen=True)
class Variant:
    """One sellable unit; `sku` is None for the item merchants forgot to give a SKU."""

    sku: str | None
    title: str
    price: Decimal
    grams: int = 250


@dataclass(frozen=True)
class Product:
    """A catalogue product with its variants."""

    handle: str
    title: str
    vendor: str
    variants: tuple[Variant, ...]
    requires_shipping: bool = True


@dataclass(frozen=True)
class Address:
    """A postal address; blank strings where a shopper typed nothing."""

    first_name: str
    last_name: str
    address1: str
    city: str
    zip: str
    country_code: str
    country: str
    province_code: str = ""
    province: str = ""
    address2: str = ""
    company: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Customer:
    """A shopper and the address they usually ship to."""

    number: int
    email: str
    address: Address


@dataclass(frozen=True)
class ShipMethod:
    """A checkout shipping option; `code` is what a merchant maps to a warehouse service."""

    code: str
    title: str
    price: Decimal


@dataclass(frozen=True)
class LineSpec:
    """An order line by SKU; an SKU missing from the catalogue makes a custom item."""

    sku: str | None
    quantity: int = 1
    refunded: int = 0


CATALOG: tuple[Product, ...] = (
    Product(
        "enamel-mug",
        "Enamel Mug",
        "Tin & Co",
        (
            Variant("MUG-BLU", "Blue", Decimal("19.95"), 340),
            Variant("MUG-RED", "Red", Decimal("19.95"), 340),
            Variant("MUG-GRN", "Green", Decimal("21.50"), 340),
        ),
    ),
    Product(
        "organic-tee",
        "Organic Tee",
        "Field Cotton",
        (
            Variant("TEE-S-BLK", "S / Black", Decimal("28.00"), 180),
            Variant("TEE-M-BLK", "M / Black", Decimal("28.00"), 190),
            Variant("TEE-L-WHT", "L / White", Decimal("29.00"), 200),
        ),
    ),
    Product(
        "tote",
        # The en dash and ampersand come back as HTML entities from WooCommerce.
        "Tote – Olive & Sand",  # noqa: RUF001
        "Tin & Co",
        (
            Variant("TOTE-OL", "Olive", Decimal("20.00"), 300),
            Variant("TOTE-SD", "Sand", Decimal("20.00"), 300),
        ),
    ),
    Product(
        "sticker-pack",
        "Sticker Pack",
        "Paper Lab",
        (Variant(None, "Default", Decimal("5.00"), 20),),
    ),
    Product(
        "candle-fig",
        "Bougie parfumée « Figue »",
        "Maison Cire",
        (Variant("CANDLE-FIG", "Default", Decimal("32.00"), 450),),
    ),
    Product(
        "notebook-a5",
        "Notizbuch Größe A5",
        "Papierwerk",
        (Variant("NB-A5", "Default", Decimal("12.40"), 260),),
    ),
    Product(
        "matcha-tin",
        "抹茶 Matcha Tin",
        "Uji Leaf",
        (Variant("TEA-MATCHA", "Default", Decimal("24.00"), 120),),
    ),
    Product(
        "gift-card",
        "Gift Card",
        "Tin & Co",
        (Variant("GIFT-25", "$25", Decimal("25.00"), 0),),
        requires_shipping=False,
    ),
    Product(
        "field-guide-ebook",
        "Field Guide (eBook)",
        "Paper Lab",
        (Variant("EBOOK-01", "PDF", Decimal("9.00"), 0),),
        requires_shipping=False,
    ),
)

CUSTOMERS: tuple[Customer, ...] = (
    Customer(
        1,
        "ana.garcia@example.com",
        Address(
            "Ana",
            "García",
            "12 Elm Rd",
            "Dayton",
            "45402",
            "US",
            "United States",
            "OH",
            "Ohio",
            phone="+1 937 555 0101",
        ),
    ),
    Customer(
        2,
        "m.alali@example.com",
        Address(
            "محمد",
            "العلي",
            "شارع الشيخ زايد 14",
            "دبي",
            "00000",
            "AE",
            "United Arab Emirates",
            "DU",
            "Dubai",
            phone="+971 4 555 0102",
        ),
    ),
    Customer(
        3,
        "sara.cohen@example.com",
        Address(
            "שרה",
            "כהן",
            "רחוב הרצל 7",
            "תל אביב",
            "6688101",
            "IL",
            "Israel",
            phone="+972 3 555 0103",
        ),
    ),
    Customer(
        4,
        "zoe.lovas@example.com",
        Address("Zoë", "Løvås", "Storgata 5", "Oslo", "0155", "NO", "Norway"),
    ),
    Customer(
        5,
        "j.gross@example.com",
        Address(
            "Jürgen",
            "Groß",
            "Hafenweg 3",
            "Bremen",
            "28195",
            "DE",
            "Germany",
            address2="Hinterhaus, 2. OG",
        ),
    ),
    Customer(
        6,
        "taro.yamada@example.com",
        Address(
            "太郎", "山田", "千代田1-1", "千代田区", "100-0001", "JP", "Japan", "JP-13", "Tokyo"
        ),
    ),
    Customer(
        7,
        "huong.nguyen@example.com",
        Address("Hương", "Nguyễn Thị", "36 Hàng Bạc", "Hà Nội", "100000", "VN", "Vietnam"),
    ),
    Customer(
        8,
        "siobhan@example.com",
        Address(
            "Siobhán", "O'Brien", "4 Quay St", "Galway", "H91 X2Y3", "IE", "Ireland", "G", "Galway"
        ),
    ),
    Customer(
        9,
        "lukasz.w@example.com",
        Address("Łukasz", "Wiśniewski", "ul. Floriańska 20", "Kraków", "31-021", "PL", "Poland"),
    ),
    Customer(
        10,
        "chloe.dubois@example.com",
        Address(
            "Chloé",
            "Dubois",
            "1200 rue Sainte-Catherine O",
            "Montréal",
            "H3B 1K9",
            "CA",
            "Canada",
            "QC",
            "Quebec",
        ),
    ),
    Customer(
        11,
        "purchasing@acme.example.com",
        Address(
            "John",
            "Smith",
            "500 Industrial Pkwy",
            "Reno",
            "89501",
            "US",
            "United States",
            "NV",
            "Nevada",
            address2="Suite 400",
            company="Acme Fulfillment, Inc.",
            phone="(775) 555-0111",
        ),
    ),
    Customer(
        12,
        "priya.raman@example.com",
        Address(
            "Priya",
            "Raman",
            "80 Feet Rd, Koramangala",
            "Bengaluru",
            "560034",
            "IN",
            "India",
            "KA",
            "Karnataka",
        ),
    ),
)

SHIP_METHODS: tuple[ShipMethod, ...] = (
    ShipMethod("standard", "Standard Shipping", Decimal("4.95")),
    ShipMethod("express", "Express (1–2 business days)", Decimal("14.90")),  # noqa: RUF001
    ShipMethod("free_shipping", "Free shipping", Decimal("0.00")),
    ShipMethod("ups_ground", "UPS® Ground", Decimal("9.50")),
    ShipMethod("usps_priority", "USPS Priority Mail", Decimal("8.70")),
    # Codes a merchant has probably not mapped to a warehouse service yet.
    ShipMethod("DHL-EXP-INTL-0042", "DHL Express Worldwide (custom rate)", Decimal("32.00")),
    ShipMethod("flexible_shipping_7", "Rate from Flexible Shipping plugin", Decimal("6.00")),
)

UNMAPPED_SHIP_METHOD = SHIP_METHODS[5]


@dataclass(frozen=True)
class OrderSpec:
    """An order independent of any platform; `placed_at` None means "now"."""

    lines: tuple[LineSpec, ...] = (LineSpec("MUG-BLU", 1),)
    customer: Customer = CUSTOMERS[0]
    shipping_address: Address | None = CUSTOMERS[0].address
    ship_method: ShipMethod | None = SHIP_METHODS[0]
    outcome: Outcome = "paid"
    placed_at: datetime | None = None
    note: str = ""
    tags: tuple[str, ...] = ()


def find_variant(sku: str | None) -> tuple[Product, Variant] | None:
    """Return the catalogue product and variant with `sku` (None finds the SKU-less one)."""
    for product in CATALOG:
        for variant in product.variants:
            if variant.sku == sku:
                return product, variant
    return None


def all_variants() -> list[tuple[Product, Variant]]:
    """Return every (product, variant) pair in catalogue order."""
    return [(product, variant) for product in CATALOG for variant in product.variants]


def order_for(customer: Customer, lines: tuple[LineSpec, ...], **changes: object) -> OrderSpec:
    """Return an order for `customer` shipping to their address, with `lines`."""
    spec = OrderSpec(lines=lines, customer=customer, shipping_address=customer.address)
    return replace(spec, **changes)  # type: ignore[arg-type]


def _edge_cases() -> list[OrderSpec]:
    c = CUSTOMERS
    return [
        order_for(c[0], (LineSpec("MUG-BLU", 1),)),
        order_for(
            c[1],
            (LineSpec("TEE-M-BLK", 2), LineSpec("TOTE-OL", 1), LineSpec("TEA-MATCHA", 3)),
            ship_method=SHIP_METHODS[1],
            note="الرجاء الاتصال قبل التسليم",
        ),
        order_for(c[3], (LineSpec("EBOOK-01", 1),), shipping_address=None, ship_method=None),
        order_for(c[4], (LineSpec(None, 4), LineSpec("NB-A5", 1)), tags=("wholesale",)),
        order_for(c[5], (LineSpec("CANDLE-FIG", 1),), outcome="cancelled"),
        order_for(c[6], (LineSpec("MUG-RED", 2),), outcome="refunded"),
        order_for(
            c[7],
            (LineSpec("TEE-S-BLK", 3, refunded=1), LineSpec("MUG-GRN", 1)),
            outcome="partially_refunded",
        ),
        order_for(c[2], (LineSpec("TOTE-SD", 1),), ship_method=UNMAPPED_SHIP_METHOD),
        order_for(
            c[10],
            (LineSpec("GIFT-25", 1), LineSpec("MUG-BLU", 6), LineSpec("HANDMADE-CUSTOM-1", 1)),
            ship_method=SHIP_METHODS[3],
            tags=("b2b", "vip"),
            note="Deliver to loading dock B",
        ),
        order_for(c[9], (LineSpec("TEA-MATCHA", 1),), outcome="fulfilled"),
    ]


_OUTCOMES: tuple[Outcome, ...] = (
    "paid",
    "pending",
    "cancelled",
    "refunded",
    "partially_refunded",
    "fulfilled",
)
_OUTCOME_WEIGHTS = (62, 8, 8, 5, 7, 10)
_PHYSICAL_SKUS = [v.sku for p, v in all_variants() if p.requires_shipping]
_DIGITAL_SKUS = [v.sku for p, v in all_variants() if not p.requires_shipping]


def _random_order(rng: random.Random) -> OrderSpec:
    customer = rng.choice(CUSTOMERS)
    digital_only = rng.random() < 0.08
    pool = _DIGITAL_SKUS if digital_only else _PHYSICAL_SKUS
    skus = rng.sample(pool, k=min(len(pool), rng.choice((1, 1, 1, 2, 2, 3))))
    if not digital_only and rng.random() < 0.1:
        skus.append(rng.choice(_DIGITAL_SKUS))
    outcome = rng.choices(_OUTCOMES, weights=_OUTCOME_WEIGHTS)[0]
    lines = [LineSpec(sku, rng.choice((1, 1, 1, 2, 3, 5))) for sku in skus]
    if outcome == "partially_refunded":
        lines[0] = replace(lines[0], refunded=1)
    return order_for(
        customer,
        tuple(lines),
        shipping_address=None if digital_only else customer.address,
        ship_method=None if digital_only else rng.choice(SHIP_METHODS),
        outcome=outcome,
        tags=tuple(rng.sample(("vip", "gift", "b2b", "repeat"), k=rng.choice((0, 0, 1, 2)))),
    )


def order_specs(count: int, seed: int, now: datetime) -> list[OrderSpec]:
    """Return `count` orders placed over the 30 days before `now`, oldest first."""
    rng = random.Random(seed)
    specs = _edge_cases()[:count]
    specs += [_random_order(rng) for _ in range(count - len(specs))]
    span = timedelta(days=30)
    placed = []
    for index, spec in enumerate(specs):
        offset = span * (index / max(count, 1)) + timedelta(seconds=rng.randint(0, 59))
        placed.append(replace(spec, placed_at=now - span + offset))
    return placed


def line_total(lines: tuple[LineSpec, ...]) -> Decimal:
    """Return the sum of price times quantity over `lines` (custom items cost 15.00)."""
    return sum((unit_price(line.sku) * line.quantity for line in lines), Decimal("0.00"))


def unit_price(sku: str | None) -> Decimal:
    """Return the catalogue price of `sku`, or 15.00 for a custom item."""
    found = find_variant(sku)
    return found[1].price if found else Decimal("15.00")
