"""Each role sees exactly its own objects; another tenant's object is a 404."""

from __future__ import annotations

import pytest
from django.http import Http404
from django.urls import reverse

from cartrover.tenancy import get_for_tenant_or_404, tenant_for
from merchants.models import Membership, Merchant
from wms.models import WmsConfig

pytestmark = pytest.mark.django_db


def names(qs):
    return sorted(str(o) for o in qs)


def test_admin_and_staff_see_every_merchant_of_their_account_only(world, other_world):
    for user in (world.admin, world.staff):
        visible = Merchant.objects.visible_to(tenant_for(user))
        assert names(visible) == names([world.merchant_a, world.merchant_b])


def test_merchant_user_sees_only_its_own_merchant(world, other_world):
    visible = Merchant.objects.visible_to(tenant_for(world.merchant_user_a))
    assert list(visible) == [world.merchant_a]


def test_merchant_user_sees_no_account_users_beyond_its_merchant(world):
    visible = Membership.objects.visible_to(tenant_for(world.merchant_user_a))
    assert [m.user for m in visible] == [world.merchant_user_a]


def test_account_level_rows_are_visible_to_all_roles_of_the_account_only(world, other_world):
    mine = WmsConfig.objects.create(account=world.account, kind="dummy")
    WmsConfig.objects.create(account=other_world.account, kind="dummy")
    for user in (world.admin, world.staff, world.merchant_user_a):
        assert list(WmsConfig.objects.visible_to(tenant_for(user))) == [mine]


def test_user_without_membership_sees_nothing(world):
    from tests.factories import UserFactory

    assert tenant_for(UserFactory()) is None
    assert not Merchant.objects.visible_to(None).exists()


def test_other_tenants_object_and_missing_object_are_the_same_404(world, other_world):
    tenant = tenant_for(world.staff)
    with pytest.raises(Http404) as foreign:
        get_for_tenant_or_404(tenant, Merchant, pk=other_world.merchant_a.pk)
    with pytest.raises(Http404) as missing:
        get_for_tenant_or_404(tenant, Merchant, pk=999_999_999)
    assert str(foreign.value) == str(missing.value)


def test_merchant_detail_view_answers_404_across_tenants(client, world, other_world):
    url = reverse("merchant_detail", args=[other_world.merchant_a.pk])
    client.force_login(world.admin)
    foreign = client.get(url)
    missing = client.get(reverse("merchant_detail", args=[999_999_999]))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content


def test_merchant_user_gets_404_for_the_other_merchant_of_its_account(client, world):
    client.force_login(world.merchant_user_a)
    assert client.get(reverse("merchant_detail", args=[world.merchant_b.pk])).status_code == 404
    assert client.get(reverse("merchant_detail", args=[world.merchant_a.pk])).status_code == 200


@pytest.mark.parametrize("role", ["admin", "staff", "merchant_user_a"])
def test_merchant_list_shows_exactly_what_the_role_may_see(client, world, other_world, role):
    client.force_login(getattr(world, role))
    body = client.get(reverse("merchant_list")).content.decode()
    expected = (
        {world.merchant_a.name}
        if role == "merchant_user_a"
        else {
            world.merchant_a.name,
            world.merchant_b.name,
        }
    )
    every = {
        world.merchant_a.name,
        world.merchant_b.name,
        other_world.merchant_a.name,
        other_world.merchant_b.name,
    }
    assert {n for n in every if n in body} == expected


@pytest.mark.parametrize("name", ["dashboard", "merchant_list"])
def test_anonymous_user_is_sent_to_login(client, world, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_user_is_sent_to_login_for_detail(client, world):
    response = client.get(reverse("merchant_detail", args=[world.merchant_a.pk]))
    assert response.status_code == 302


def test_user_without_account_gets_a_clear_page(client, world):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get(reverse("dashboard"))
    assert response.status_code == 403
    assert b"not a member of any account" in response.content
