"""Activity, job run logs, alerts and inventory screens."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sync.models import JobRun

pytestmark = pytest.mark.django_db


def test_activity_lists_runs_with_filters_and_a_run_shows_its_log(client, hub):
    hub.run("download")
    hub.cart.setup = {**hub.cart.setup, "failure": "server_error"}
    hub.cart.save()
    from sync.models import Schedule

    Schedule.objects.filter(cart=hub.cart).update(next_run_at="2000-01-01T00:00:00Z")
    hub.run("download")
    client.force_login(hub.world.staff)
    page = client.get(reverse("activity"), {"outcome": "failed"}).content.decode()
    assert "answered 500" in page and "outcome-ok" not in page
    run = JobRun.objects.filter(outcome="ok").first()
    detail = client.get(reverse("job_run_detail", args=[run.pk])).content.decode()
    assert "Downloading orders" in detail and "new: 6" in detail


def test_alerts_page_shows_open_and_resolved_alerts(client, hub):
    from sync.alerts import alert_open, alert_resolve

    alert_open(
        account_id=hub.world.account.pk,
        merchant_id=hub.world.merchant_a.pk,
        key="k1",
        kind="x",
        message="Something to fix",
    )
    alert_open(
        account_id=hub.world.account.pk,
        merchant_id=hub.world.merchant_a.pk,
        key="k2",
        kind="x",
        message="Fixed by itself",
    )
    alert_resolve("k2")
    client.force_login(hub.world.merchant_user_a)
    page = client.get(reverse("alerts")).content.decode()
    open_part, resolved_part = page.split("<h2>Resolved</h2>")
    assert "Something to fix" in open_part and "Fixed by itself" in resolved_part
    client.force_login(hub.world.merchant_user_b)
    assert "Something to fix" not in client.get(reverse("alerts")).content.decode()


def test_inventory_shows_levels_and_what_the_next_upload_sends_and_why(client, hub):
    hub.run("download")
    hub.run("inventory")
    client.force_login(hub.world.staff)
    page = client.get(reverse("inventory"), {"cart": hub.cart.pk}).content.decode()
    assert "SKU-1" in page
    assert "in orders not yet at the WMS" in page
