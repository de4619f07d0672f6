"""A new staff member's first hour, in a real Chromium: from an empty account to shipped orders.

Playwright drives Debian's chromium (no browser download). Beat and the worker are played by
the test between clicks (claim due schedules, run them), so every step is the real code path.
Screenshots of the main pages are saved under test-artifacts/screens/.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from merchants.models import Merchant, User
from orders.models import Order
from tests.browser.helpers import log_in, shot, tick
from tests.factories import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_staff_set_up_everything_and_orders_reach_shipped(page, world, tmp_path):
    log_in(page, world.admin.email, PASSWORD)
    shot(page, "dashboard-empty")

    # The WMS: the sandbox warehouse, tested, with its ship methods loaded.
    page.goto(reverse("wms_setup") + "?kind=dummy")
    page.fill('[name="cred_api_key"]', "warehouse-key")
    page.fill('[name="set_ledger_dir"]', str(tmp_path))
    page.click("text=Save the WMS")
    page.click("text=Test connection")
    assert page.is_visible("text=Connected to sandbox warehouse")
    page.click("text=Load from the WMS")
    assert page.is_visible("text=Loaded the WMS's ship methods: 3 new.")
    shot(page, "wms-setup")

    # A merchant with its merchant user.
    page.goto(reverse("merchant_new"))
    page.fill('[name="name"]', "Harbor Candles")
    page.fill('[name="invite_email"]', "sam@harbor.example")
    page.fill('[name="invite_name"]', "Sam")
    page.click("text=Add the merchant")
    assert page.is_visible("text=An invitation is on its way")
    merchant = Merchant.objects.get(name="Harbor Candles")

    # A cart: the sandbox store, holding orders whose ship method is not mapped.
    page.click("text=Add a cart")
    page.click("text=Sandbox store")
    page.fill('[name="order_source"]', "Harbor web shop")
    page.fill('[name="cred_api_key"]', "store-key")
    page.fill('[name="setup_seed"]', "harbor")
    page.fill('[name="setup_order_count"]', "3")
    page.fill('[name="setup_ship_codes"]', "DRONE")
    page.fill('[name="setup_ledger_dir"]', str(tmp_path))
    page.check('[name="reject_unmapped_ship_codes"]')
    page.select_option('[name="download_interval"]', "5")
    shot(page, "cart-form")
    page.click("text=Add the cart")
    assert page.is_visible("text=Test its connection next")
    page.click("text=Test connection")
    assert page.is_visible("text=Connected to sandbox store")

    # Run the download now: the row shows it queued, the worker runs it.
    row = page.locator("tr", has_text="Order download")
    row.locator("text=Run now").click()
    # This row, not another flow's: the tick must not run before the download is due.
    expect(row.locator('[data-field="state"]')).to_have_text("queued")
    tick(until_ran="download")
    page.reload()
    shot(page, "cart-detail")

    # The orders are held for the unmapped ship method; map it in place.
    page.goto(reverse("holds"))
    assert page.is_visible("text=DRONE")
    shot(page, "holds")
    page.select_option('select[name="ship_method"]', label="UPS GROUND — Ground")
    page.click("text=Map and release")
    assert page.is_visible("text=3 order(s) released")

    # Delivery (poked by the release? no: by run now), then the warehouse ships.
    tick()  # delivery was made due when the download found new orders
    assert set(Order.objects.filter(merchant=merchant).values_list("status", flat=True)) == {
        "at_wms"
    }
    page.goto(reverse("merchant_detail", args=[merchant.pk]))
    page.locator("tr", has_text="Shipment confirmations").locator("text=Run now").click()
    page.wait_for_timeout(300)
    tick()
    page.goto(reverse("order_list") + f"?merchant={merchant.pk}")
    assert page.locator("text=Shipped").count() >= 3
    shot(page, "orders")
    page.click(f"text={Order.objects.filter(merchant=merchant).first().order_number}")
    assert page.is_visible("text=Timeline")
    shot(page, "order-detail")
    page.goto(reverse("dashboard"))
    shot(page, "dashboard")

    # The merchant user sees only its own merchant.
    sam = User.objects.get(email="sam@harbor.example")
    sam.set_password(PASSWORD)
    sam.save()
    page.click("text=Log out")
    log_in(page, "sam@harbor.example", PASSWORD)
    page.goto(reverse("merchant_list"))
    assert page.is_visible("text=Harbor Candles")
    assert not page.is_visible(f"text={world.merchant_a.name}")
    page.goto(reverse("order_list"))
    assert page.locator("tbody tr").count() == 3
    shot(page, "merchant-user-orders")


NARROW_PAGES = (
    ("dashboard", lambda hub: reverse("dashboard")),
    ("orders", lambda hub: reverse("order_list")),
    ("order-detail", lambda hub: reverse("order_detail", args=[hub.cart.orders.first().pk])),
    ("holds", lambda hub: reverse("holds")),
    ("carts", lambda hub: reverse("cart_list")),
    ("cart-detail", lambda hub: reverse("cart_detail", args=[hub.cart.pk])),
    ("merchant-detail", lambda hub: reverse("merchant_detail", args=[hub.cart.merchant_id])),
    ("interfaces", lambda hub: reverse("webhook_endpoints", args=[hub.cart.merchant_id])),
    ("inventory", lambda hub: reverse("inventory")),
    ("activity", lambda hub: reverse("activity")),
    ("alerts", lambda hub: reverse("alerts")),
    ("wms", lambda hub: reverse("wms_setup")),
    ("api-keys", lambda hub: reverse("api_keys")),
    ("users", lambda hub: reverse("users")),
)


@pytest.mark.parametrize("width", [1024, 1280])
def test_main_pages_fit_a_laptop_screen_without_sideways_scrolling(
    browser, live_server, hub, width
):
    for flow in ("download", "delivery", "ship_confirm", "inventory"):
        hub.run(flow)
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 768}
    )
    page = context.new_page()
    try:
        log_in(page, hub.world.admin.email, PASSWORD)
        too_wide = {}
        for name, url in NARROW_PAGES:
            page.goto(url(hub))
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                too_wide[name] = overflow
            nav_hidden = page.evaluate(
                """[...document.querySelectorAll('.mainnav a')].filter(a => {
                    const r = a.getBoundingClientRect();
                    return r.right > document.documentElement.clientWidth || r.width === 0;
                }).map(a => a.textContent)"""
            )
            assert nav_hidden == [], (name, nav_hidden)
            if width == 1024:
                shot(page, f"{name}-{width}")
        assert too_wide == {}, f"pages wider than {width} px (by px): {too_wide}"
    finally:
        context.close()
