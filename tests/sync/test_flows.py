"""The six flows end to end with the sandbox store and warehouse."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import (
    EventKind,
    HoldReason,
    InventoryLevel,
    Order,
    OrderStatus,
    ProductAlias,
    Shipment,
    UploadState,
)
from orders.services import ship_method_map
from sync.models import Alert, JobRun, Outcome, Schedule
from tests.hub import retry_time_passed
from wms.models import Health, WmsShipMethod

pytestmark = pytest.mark.django_db

S = OrderStatus


def statuses(cart) -> Counter:
    return Counter(cart.orders.values_list("status", flat=True))


def test_orders_travel_from_store_to_warehouse_and_tracking_back(hub):
    download = hub.run("download")
    assert download.outcome == Outcome.OK
    assert download.counts["new"] == 6
    assert statuses(hub.cart) == {S.NEW: 6}

    assert hub.run("delivery").counts["delivered"] == 6
    assert statuses(hub.cart) == {S.AT_WMS: 6}
    assert sorted(r["key"] for r in hub.warehouse.records("order")) == sorted(
        o.key for o in hub.cart.orders.all()
    )

    assert hub.run("ship_confirm").counts["shipments"] == 6
    assert statuses(hub.cart) == {S.SHIPPED: 6}

    assert hub.run("shipment_upload").counts["uploaded"] == 6
    assert statuses(hub.cart) == {S.CONFIRMED: 6}
    uploaded = Counter(r["tracking"] for r in hub.store.records("shipment"))
    assert set(uploaded.values()) == {1}
    assert len(uploaded) == 6

    order = hub.cart.orders.order_by("id").first()
    kinds = list(order.events.values_list("kind", flat=True))
    assert kinds == [
        EventKind.DOWNLOADED,
        EventKind.DELIVERED,
        EventKind.SHIPMENT_RECEIVED,
        EventKind.TRACKING_UPLOADED,
        EventKind.CONFIRMED,
    ]


def test_inventory_is_loaded_then_sent_to_the_cart_only_when_it_changes(hub):
    hub.run("inventory")
    assert InventoryLevel.objects.filter(merchant=hub.cart.merchant).count() == 3
    hub.cart.inventory_upload_interval = 60
    hub.cart.save()
    first = hub.run("inventory_upload")
    assert first.counts["sent"] == 3
    assert hub.run("inventory_upload").counts.get("sent", 0) == 0
    assert len(list(hub.store.records("stock"))) == 3


@pytest.mark.parametrize(
    "flow", ["download", "delivery", "ship_confirm", "shipment_upload", "inventory"]
)
def test_running_a_flow_twice_changes_nothing_the_second_time(hub, flow):
    order_of_flows = ["download", "delivery", "ship_confirm", "shipment_upload", "inventory"]
    for earlier in order_of_flows[: order_of_flows.index(flow) + 1]:
        hub.run(earlier)

    def snapshot():
        return (
            sorted(Order.objects.values_list("id", "status", "payload_hash", "delivery_reference")),
            Shipment.objects.count(),
            sorted(Shipment.objects.values_list("id", "upload_state")),
            sorted(InventoryLevel.objects.values_list("sku", "warehouse", "quantity")),
            len(list(hub.warehouse.records())),
            len(list(hub.store.records())),
        )

    before = snapshot()
    events = Order.objects.count() and sum(o.events.count() for o in Order.objects.all())
    hub.run(flow)
    assert snapshot() == before
    assert sum(o.events.count() for o in Order.objects.all()) == events


def test_unmapped_ship_code_holds_order_until_mapped(hub, tmp_path):
    cart = hub.add_cart(
        hub.world.merchant_b, reject_unmapped=True, order_count=4, ship_codes="GROUND,DRONE"
    )
    ground = WmsShipMethod.objects.get(account=hub.world.account, code="GROUND")
    ship_method_map(merchant=hub.world.merchant_b, cart_code="GROUND", ship_method=ground)
    run = hub.run("download", cart)
    assert statuses(cart) == {S.NEW: 2, S.HELD: 2}
    assert "'DRONE' is not mapped: 2 order(s) held" in run.log
    alert = Alert.objects.get(kind="unmapped_ship_methods", resolved_at__isnull=True)
    assert "DRONE" in alert.message
    held = cart.orders.filter(status=S.HELD).first()
    assert held.hold_reasons == [HoldReason.UNMAPPED_SHIP_METHOD]

    hub.run("delivery", cart)
    assert statuses(cart) == {S.AT_WMS: 2, S.HELD: 2}

    drone = WmsShipMethod.objects.create(account=hub.world.account, code="AIR", carrier="DHL")
    released = ship_method_map(merchant=hub.world.merchant_b, cart_code="DRONE", ship_method=drone)
    assert released == 2
    assert statuses(cart) == {S.AT_WMS: 2, S.NEW: 2}
    hub.run("delivery", cart)
    sent = {r["order_number"]: r["ship_method"] for r in hub.warehouse.records("order")}
    assert sorted(sent.values()) == ["AIR", "AIR", "GROUND", "GROUND"]
    hub.run("download", cart)  # a later download resolves the alert: nothing is held any more
    assert not Alert.objects.filter(kind="unmapped_ship_methods", resolved_at__isnull=True).exists()


def test_malformed_order_goes_to_error_with_raw_payload_and_the_rest_is_stored(hub):
    cart = hub.add_cart(hub.world.merchant_b, order_count=8, failure="malformed")
    run = hub.run("download", cart)
    assert run.outcome == Outcome.PARTIAL
    assert statuses(cart) == {S.NEW: 6, S.ERROR: 2}
    broken = cart.orders.filter(status=S.ERROR).first()
    assert "could not be read" in broken.last_error
    assert broken.raw_payload["id"] == broken.external_id
    assert broken.events.filter(kind=EventKind.ERROR).exists()


def test_warehouse_rejecting_one_order_backs_off_only_that_order(hub):
    hub.wms.settings = {**hub.wms.settings, "reject_skus": "SKU-3"}
    hub.wms.save()
    hub.run("download")
    run = hub.run("delivery")
    assert run.outcome == Outcome.PARTIAL
    rejected = Order.objects.filter(status=S.NEW)
    assert rejected.exists()
    for order in rejected:
        assert "SKU-3" in {li.wms_sku for li in order.lines.all()}
        assert order.delivery_attempts == 1
        assert order.next_attempt_at > timezone.now() + timedelta(minutes=59)
        assert "does not know SKU SKU-3" in order.last_error
    assert Order.objects.filter(status=S.AT_WMS).count() == 6 - rejected.count()
    again = hub.run("delivery")
    assert again.counts.get("delivered", 0) == 0  # not retried before its hour is up


def test_delivery_gives_up_past_the_horizon_into_error_with_alert_and_can_be_resent(hub, settings):
    settings.DELIVERY_RETRY_HORIZON_DAYS = 0
    hub.wms.settings = {**hub.wms.settings, "reject_skus": "SKU-1,SKU-2,SKU-3"}
    hub.wms.save()
    hub.run("download")
    hub.run("delivery")
    assert statuses(hub.cart) == {S.ERROR: 6}
    alert = Alert.objects.get(kind="order_errors", resolved_at__isnull=True)
    assert "6 order(s) in error" in alert.message

    from orders.services import order_resend

    hub.wms.settings = {**hub.wms.settings, "reject_skus": ""}
    hub.wms.save()
    for order in Order.objects.all():
        assert order_resend(order)
    hub.run("delivery")
    assert statuses(hub.cart) == {S.AT_WMS: 6}
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None


def test_wms_down_uses_one_attempt_per_order_and_recovers(hub):
    hub.run("download")
    hub.wms.settings = {**hub.wms.settings, "failure": "server_error"}
    hub.wms.save()
    run = hub.run("delivery")
    assert run.outcome == Outcome.FAILED
    assert "503" in run.error
    assert set(Order.objects.values_list("delivery_attempts", flat=True)) == {1}
    hub.wms.refresh_from_db()
    assert hub.wms.health == Health.DEGRADED

    hub.wms.settings = {**hub.wms.settings, "failure": "none"}
    hub.wms.save()
    retry_time_passed()
    Schedule.objects.filter(flow="delivery").update(next_run_at=timezone.now())
    assert hub.run("delivery").counts["delivered"] == 6
    hub.wms.refresh_from_db()
    assert hub.wms.health == Health.ACTIVE


def test_timeout_after_the_wms_accepted_delivers_each_order_exactly_once(hub):
    hub.run("download")
    hub.wms.settings = {**hub.wms.settings, "failure": "timeout_after_accept"}
    hub.wms.save()
    assert hub.run("delivery").outcome == Outcome.FAILED
    assert statuses(hub.cart) == {S.SENDING: 6}
    hub.wms.settings = {**hub.wms.settings, "failure": "none"}
    hub.wms.save()
    retry_time_passed()
    assert hub.run("delivery").counts["delivered"] == 6
    keys = Counter(r["key"] for r in hub.warehouse.records("order"))
    assert len(keys) == 6 and set(keys.values()) == {1}


def test_rate_limited_run_is_deferred_until_retry_after_without_using_an_attempt(hub):
    hub.cart.setup = {**hub.cart.setup, "failure": "rate_limit"}
    hub.cart.save()
    before = timezone.now()
    run = hub.run("download")
    assert run.outcome == Outcome.DEFERRED
    schedule = hub.schedule("download")
    assert schedule.consecutive_failures == 0
    assert schedule.next_run_at >= before + timedelta(seconds=30)
    assert schedule.next_run_at < before + timedelta(minutes=5)
    hub.cart.refresh_from_db()
    assert hub.cart.health == Health.ACTIVE


def test_refused_credentials_pause_the_cart_with_an_alert_until_fixed(hub):
    from sync.health import connection_healthy

    hub.cart.setup = {**hub.cart.setup, "failure": "auth"}
    hub.cart.save()
    run = hub.run("download")
    assert run.outcome == Outcome.FAILED
    hub.cart.refresh_from_db()
    assert hub.cart.health == Health.NEEDS_REAUTH
    assert not Schedule.objects.filter(cart=hub.cart, enabled=True).exists()
    alert = Alert.objects.get(key=f"cart:{hub.cart.pk}:auth", resolved_at__isnull=True)
    assert "refused the API key" in alert.message

    hub.cart.setup = {**hub.cart.setup, "failure": "none"}
    hub.cart.save()
    connection_healthy(hub.cart)
    assert Schedule.objects.filter(cart=hub.cart, enabled=True, flow="download").exists()
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None
    assert hub.run("download").outcome == Outcome.OK


def test_repeated_failures_open_an_alert_that_resolves_on_success(hub, settings):
    settings.SYNC_ALERT_AFTER_FAILURES = 2
    hub.cart.setup = {**hub.cart.setup, "failure": "server_error"}
    hub.cart.save()
    for _ in range(2):
        Schedule.objects.filter(cart=hub.cart).update(next_run_at=timezone.now())
        hub.run("download")
    alert = Alert.objects.get(kind="flow_failing", resolved_at__isnull=True)
    assert "failed 2 times in a row" in alert.message
    hub.cart.setup = {**hub.cart.setup, "failure": "none"}
    hub.cart.save()
    hub.run("download")
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None


def test_cursor_overlap_catches_an_order_updated_at_a_page_boundary_without_duplicates(hub):
    from carts.services import cart_adapter

    hub.run("download")
    schedule = hub.schedule("download")
    assert schedule.cursor is not None
    # The store writes an update stamped a little before the newest time we already read
    # (the page boundary moved while we paged): a strict "after the cursor" read misses it.
    boundary = hub.cart.orders.order_by("external_id").first()
    cart_adapter(hub.cart).change_order(
        boundary.external_id,
        updated_at=schedule.cursor - timedelta(minutes=2),
        notes="Leave at the back door",
    )
    run = hub.run("download")
    assert run.counts["updated"] == 1
    assert Order.objects.count() == 6
    boundary.refresh_from_db()
    assert boundary.notes == "Leave at the back door"


def test_order_canceled_in_cart_before_delivery_is_canceled_and_never_sent(hub):
    from carts.services import cart_adapter

    hub.run("download")
    order = hub.cart.orders.order_by("id").first()
    cart_adapter(hub.cart).change_order(order.external_id, updated_at=timezone.now(), canceled=True)
    assert hub.run("download").counts["canceled"] == 1
    hub.run("delivery")
    order.refresh_from_db()
    assert order.status == S.CANCELED
    assert order.key not in {r["key"] for r in hub.warehouse.records("order")}


def test_order_canceled_in_cart_after_delivery_opens_an_alert(hub):
    from carts.services import cart_adapter

    hub.run("download")
    hub.run("delivery")
    order = hub.cart.orders.order_by("id").first()
    cart_adapter(hub.cart).change_order(order.external_id, updated_at=timezone.now(), canceled=True)
    hub.run("download")
    order.refresh_from_db()
    assert order.status == S.AT_WMS
    assert HoldReason.CANCELED_IN_CART in order.hold_reasons
    assert Alert.objects.filter(kind="canceled_after_delivery", resolved_at__isnull=True).exists()


def test_partial_shipments_keep_the_order_shipped_until_every_package_is_uploaded(hub):
    hub.wms.settings = {**hub.wms.settings, "split_packages": True}
    hub.wms.save()
    hub.run("download")
    hub.run("delivery")
    hub.run("ship_confirm")
    multi = [o for o in Order.objects.all() if o.lines.count() > 1]
    assert multi
    for order in multi:
        assert order.shipments.count() == 2
    one = multi[0].shipments.first()
    # Upload only the other packages, then check the order is still not confirmed.
    Shipment.objects.exclude(pk=one.pk).update(upload_state=UploadState.UPLOADED)
    from orders.services import order_confirm_if_complete

    assert not order_confirm_if_complete(multi[0])
    hub.run("shipment_upload")
    multi[0].refresh_from_db()
    assert multi[0].status == S.CONFIRMED


def test_unknown_order_in_a_shipment_is_reported_and_the_rest_stored(hub):
    hub.run("download")
    hub.run("delivery")
    lost = Order.objects.order_by("id").first()
    lost_key = lost.key
    lost.delete()
    run = hub.run("ship_confirm")
    assert run.outcome == Outcome.PARTIAL
    assert f"no order {lost_key}" in run.log
    assert run.counts["shipments"] == 5


def test_each_flow_run_is_recorded_with_counts_and_log(hub):
    hub.run("download")
    run = JobRun.objects.get(flow="download")
    assert run.finished_at is not None
    assert run.counts["new"] == 6
    assert "Downloading orders" in run.log
    assert run.duration is not None


def test_run_flow_command_prints_what_it_did(hub):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("run_flow", "download", "--cart", str(hub.cart.pk), stdout=out)
    assert "Order download" in out.getvalue()
    assert "new: 6" in out.getvalue()


def test_aliases_translate_cart_skus_for_the_wms(hub):
    ProductAlias.objects.create(
        account=hub.world.account,
        merchant=hub.cart.merchant,
        master_sku="MASTER-1",
        alias_type="cart",
        alias="SKU-1",
    )
    hub.run("download")
    hub.run("delivery")
    sent = {li["sku"] for r in hub.warehouse.records("order") for li in r["lines"]}
    assert "MASTER-1" in sent and "SKU-1" not in sent


def test_a_new_alert_is_emailed_to_the_merchants_contacts_and_opted_in_users(
    hub, django_capture_on_commit_callbacks
):
    from django.core import mail

    from merchants.models import User

    merchant = hub.cart.merchant
    merchant.alert_emails = "ops@merchant.example"
    merchant.save()
    User.objects.filter(pk=hub.world.staff.pk).update(email_alerts=False)
    hub.cart.setup = {**hub.cart.setup, "failure": "auth"}
    hub.cart.save()
    with django_capture_on_commit_callbacks(execute=True):
        hub.run("download")
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert "refused the API key" in sent.subject
    assert "ops@merchant.example" in sent.to
    assert hub.world.admin.email in sent.to
    assert hub.world.merchant_user_a.email in sent.to
    assert hub.world.staff.email not in sent.to  # opted out
    assert hub.world.merchant_user_b.email not in sent.to  # cannot see this merchant
