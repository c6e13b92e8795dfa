"""Staff reach the admin only with a second factor (TOTP, or a single-use recovery code);
members never meet it."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .conftest import make_user
from .otp_helpers import current_code, verified_admin_client, wrong_code

pytestmark = pytest.mark.django_db

SETUP = reverse("two_factor_setup")
VERIFY = reverse("two_factor_verify")
CODES = reverse("two_factor_recovery_codes")
ADMIN = reverse("admin:index")


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db):
    return make_user("boss", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def enrolled(staff):
    """A staff member who set up an authenticator and has recovery codes."""
    device = TOTPDevice.objects.create(user=staff, name="Authenticator app", confirmed=True)
    recovery = StaticDevice.objects.create(user=staff, name="Recovery codes", confirmed=True)
    for token in ("aaaa2222", "bbbb3333"):
        recovery.token_set.create(token=token)
    return device


def landing(client, url):
    response = client.get(url, follow=True)
    return response.redirect_chain[-1][0] if response.redirect_chain else url


def test_staff_without_a_device_are_sent_to_setup(staff_client):
    assert landing(staff_client, ADMIN) == f"{SETUP}?next=/admin/"
    changelist = reverse("admin:generations_generation_changelist")
    assert landing(staff_client, changelist).startswith(SETUP)


def test_setup_with_a_real_code_gives_recovery_codes_once_then_the_admin(staff_client, staff):
    page = staff_client.get(f"{SETUP}?next=/admin/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert "otpauth://totp/Banana%20Studio%3Aboss?secret=" in page.text
    assert "<svg" in page.text  # the QR code
    assert staff_client.get(SETUP).text.count(device.config_url.split("secret=")[1][:32]) >= 1

    response = staff_client.post(f"{SETUP}?next=/admin/", {"code": current_code(device)})

    assert response.status_code == 302
    assert response["Location"] == f"{CODES}?next=/admin/"
    device.refresh_from_db()
    assert device.confirmed
    tokens = list(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True))
    assert len(tokens) == 10
    shown = staff_client.get(response["Location"])
    assert all(token in shown.text for token in tokens)
    assert staff_client.get(ADMIN).status_code == 200
    again = staff_client.get(CODES)
    assert not any(token in again.text for token in tokens)  # shown once


def test_setup_refuses_a_wrong_code(staff_client, staff):
    staff_client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff)

    response = staff_client.post(SETUP, {"code": wrong_code(device)})

    assert response.status_code == 200
    assert "did not match" in response.text
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.filter(user=staff).exists()
    assert landing(staff_client, ADMIN).startswith(SETUP)


def test_setup_keeps_the_secret_until_it_is_confirmed(staff_client, staff):
    first = staff_client.get(SETUP)
    second = staff_client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff)
    assert device.config_url in first.text.replace("&amp;", "&")
    assert device.config_url in second.text.replace("&amp;", "&")


def test_enrolled_staff_verify_each_new_session_with_their_authenticator(staff_client, enrolled):
    assert landing(staff_client, ADMIN) == f"{VERIFY}?next=/admin/"
    assert staff_client.get(SETUP)["Location"].startswith(VERIFY)  # no second enrolment

    response = staff_client.post(f"{VERIFY}?next=/admin/", {"code": current_code(enrolled)})

    assert response["Location"] == "/admin/"
    assert staff_client.get(ADMIN).status_code == 200


def test_a_wrong_code_is_refused(staff_client, enrolled):
    response = staff_client.post(VERIFY, {"code": wrong_code(enrolled)})

    assert response.status_code == 200
    assert "did not match" in response.text
    assert landing(staff_client, ADMIN).startswith(VERIFY)


def test_a_recovery_code_works_once(client, staff, enrolled):
    client.force_login(staff)
    response = client.post(VERIFY, {"code": " AAAA-2222 "})  # as people type it
    assert response.status_code == 302
    assert client.get(ADMIN).status_code == 200

    client.logout()
    client.force_login(staff)
    reused = client.post(VERIFY, {"code": "aaaa2222"})

    assert reused.status_code == 200
    assert client.get(ADMIN).status_code == 302
    assert list(StaticToken.objects.values_list("token", flat=True)) == ["bbbb3333"]
    assert "1 recovery code left" in client.get(VERIFY).text


def test_repeated_wrong_codes_make_the_next_try_wait(staff_client, enrolled):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            staff_client.post(VERIFY, {"code": wrong_code(enrolled)})

        refused = staff_client.post(VERIFY, {"code": current_code(enrolled)})

    assert refused.status_code == 200
    assert "Too many wrong codes: wait 1 second" in refused.text
    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        enrolled.refresh_from_db()
        assert staff_client.post(VERIFY, {"code": current_code(enrolled)}).status_code == 302


def test_next_only_leads_to_this_site(staff_client, enrolled):
    response = staff_client.post(
        f"{VERIFY}?next=https://evil.example/", {"code": current_code(enrolled)}
    )
    assert response["Location"] == ADMIN


def test_members_never_see_the_second_factor(client, member):
    client.force_login(member)
    for url in (SETUP, VERIFY, CODES):
        assert client.get(url).status_code == 404, url
    admin = client.get(ADMIN, follow=True)
    assert admin.redirect_chain[-1][0].startswith(reverse("admin:login"))
    assert client.get(reverse("home")).status_code == 200


def test_staff_use_the_studio_without_a_second_factor(staff_client):
    assert staff_client.get(reverse("home")).status_code == 200


def test_admins_may_remove_an_authenticator_but_not_read_its_secret(client, staff):
    verified_admin_client(client, staff)
    lost = TOTPDevice.objects.create(user=make_user("tae", is_staff=True), confirmed=True)
    for name in ("otp_totp_totpdevice_changelist", "otp_static_staticdevice_changelist"):
        assert client.get(reverse(f"admin:{name}")).status_code == 200, name

    change = client.get(reverse("admin:otp_totp_totpdevice_change", args=[lost.pk]))

    assert change.status_code == 200
    assert lost.key not in change.text
    delete = reverse("admin:otp_totp_totpdevice_delete", args=[lost.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not TOTPDevice.objects.filter(pk=lost.pk).exists()


def test_signing_in_at_the_admin_leads_staff_to_setup(client, staff):
    response = client.post(
        f"{reverse('admin:login')}?next=/admin/",
        {"username": "boss", "password": "pw", "next": "/admin/"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"{SETUP}?next=/admin/"
    assert "Set up two-step sign-in" in response.text


def test_the_pages_need_a_login(client):
    response = client.get(SETUP)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
