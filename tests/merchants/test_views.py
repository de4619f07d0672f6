"""Merchant screens: add with schedules and an invited merchant user, edit, deactivate."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from merchants.models import Membership, Merchant
from sync.models import Schedule

pytestmark = pytest.mark.django_db


def data(**overrides):
    values = {
        "name": "Copper Kettle",
        "active": "on",
        "delivery_interval": 5,
        "deliver_on_download": "on",
        "ship_confirm_interval": 15,
        "inventory_interval": 60,
        "alert_emails": "ops@copper.example",
        "invite_email": "",
        "invite_name": "",
    }
    values.update(overrides)
    return values


def test_new_merchant_with_an_invited_user_who_can_then_log_in(client, hub):
    client.force_login(hub.world.staff)
    response = client.post(
        reverse("merchant_new"), data(invite_email="Kim@Copper.example", invite_name="Kim")
    )
    merchant = Merchant.objects.get(name="Copper Kettle")
    assert response["Location"] == reverse("merchant_detail", args=[merchant.pk])
    assert Membership.objects.get(user__email="kim@copper.example").merchant == merchant
    assert Schedule.objects.filter(merchant=merchant, cart=None, enabled=True).count() == 3
    assert len(mail.outbox) == 1 and "Copper Kettle" in mail.outbox[0].subject
    link = re.search(r"https?://[^/]+(/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(
        form_url, {"new_password1": "kettle on the hob 7", "new_password2": "kettle on the hob 7"}
    )
    client.post(reverse("logout"))
    login = client.post(
        reverse("login"), {"username": "kim@copper.example", "password": "kettle on the hob 7"}
    )
    assert login.status_code == 302
    assert "Copper Kettle" in client.get(reverse("merchant_list")).content.decode()


def test_schedule_limits_are_enforced_with_the_error_next_to_the_field(client, hub):
    client.force_login(hub.world.staff)
    page = client.post(reverse("merchant_new"), data(inventory_interval=5)).content.decode()
    assert "Select a valid choice" in page
    assert "Copper Kettle" in page  # what was typed stays
    assert not Merchant.objects.filter(name="Copper Kettle").exists()


def test_deactivating_a_merchant_stops_its_flows(client, hub):
    client.force_login(hub.world.staff)
    merchant = hub.world.merchant_a
    client.post(reverse("merchant_edit", args=[merchant.pk]), data(name=merchant.name, active=""))
    assert not Schedule.objects.filter(merchant=merchant, enabled=True).exists()


def test_merchant_users_cannot_add_merchants_or_edit_another(client, hub):
    client.force_login(hub.world.merchant_user_a)
    assert client.get(reverse("merchant_new")).status_code == 404
    assert client.get(reverse("merchant_edit", args=[hub.world.merchant_b.pk])).status_code == 404
    assert client.get(reverse("merchant_edit", args=[hub.world.merchant_a.pk])).status_code == 200


def test_profile_saves_name_time_zone_and_alert_choice(client, hub):
    client.force_login(hub.world.merchant_user_a)
    client.post(reverse("profile"), {"name": "Robin", "time_zone": "Europe/Berlin"})
    user = type(hub.world.merchant_user_a).objects.get(pk=hub.world.merchant_user_a.pk)
    assert (user.name, user.time_zone, user.email_alerts) == ("Robin", "Europe/Berlin", False)
    page = client.post(reverse("profile"), {"name": "Robin", "time_zone": "Mars/Base"})
    assert b"is not a known time zone" in page.content


def test_an_admin_invites_staff_and_removes_them_and_others_cannot(client, hub):
    from merchants.models import Membership

    client.force_login(hub.world.admin)
    client.post(reverse("users"), {"email": "new@north.example", "name": "New", "role": "staff"})
    membership = Membership.objects.get(user__email="new@north.example")
    assert membership.role == "staff" and len(mail.outbox) == 1
    client.post(reverse("user_remove", args=[membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    client.force_login(hub.world.staff)
    assert client.get(reverse("users")).status_code == 404
    target = Membership.objects.get(user=hub.world.merchant_user_a)
    assert client.post(reverse("user_remove", args=[target.pk])).status_code == 404
    assert Membership.objects.filter(pk=target.pk).exists()


def test_a_merchant_page_counts_its_own_orders_by_status(client, hub):
    hub.run("download")
    client.force_login(hub.world.staff)
    page = client.get(reverse("merchant_detail", args=[hub.world.merchant_a.pk])).content.decode()
    assert f"?merchant={hub.world.merchant_a.pk}&amp;status=new" in page
    assert '<span class="tile-n">6</span><span class="tile-label">New</span>' in page
    other = client.get(reverse("merchant_detail", args=[hub.world.merchant_b.pk])).content.decode()
    assert '<span class="tile-n">0</span><span class="tile-label">New</span>' in other
