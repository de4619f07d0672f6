"""The demo seed: created once, and the logins it prints work."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from merchants.models import Account

pytestmark = pytest.mark.django_db


def seed(settings, tmp_path) -> str:
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def printed_login(output: str, who: str) -> tuple[str, str]:
    match = re.search(rf"{who} login:\s+(\S+) / (\S+)", output)
    assert match, output
    return match.group(1), match.group(2)


def test_the_printed_staff_and_merchant_logins_work(client, settings, tmp_path):
    output = seed(settings, tmp_path)
    email, password = printed_login(output, "Staff")
    response = client.post(reverse("login"), {"username": email, "password": password})
    assert response.status_code == 302
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert "Demo Fulfillment" in dashboard
    assert "Acme Outdoor" in dashboard and "Blue Harbor Tea" in dashboard

    client.post(reverse("logout"))
    email, password = printed_login(output, "Merchant")
    assert (
        client.post(reverse("login"), {"username": email, "password": password}).status_code == 302
    )
    page = client.get(reverse("merchant_list")).content.decode()
    assert "Acme Outdoor" in page and "Blue Harbor Tea" not in page


def test_seeding_again_keeps_the_data_and_the_password(settings, tmp_path):
    first = seed(settings, tmp_path)
    second = seed(settings, tmp_path)
    assert printed_login(first, "Staff") == printed_login(second, "Staff")
    assert Account.objects.filter(name="Demo Fulfillment").count() == 1
