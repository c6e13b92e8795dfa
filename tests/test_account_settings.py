"""A member's own settings page: display name, language and time zone, the password link
(local accounts), and the sessions they are signed in with, which they can end."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from generations.models import MemberProfile, MemberSession

from .conftest import make_user

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW_PASSWORD = "a-Long-new-passw0rd"


def signed_in(user, agent="Browser/1.0"):
    client = Client(headers={"User-Agent": agent})
    response = client.post(reverse("login"), {"username": user.username, "password": "pw"})
    assert response["Location"] == reverse("home")
    return client


def is_signed_in(client):
    return client.get(reverse("account_settings")).status_code == 200


@pytest.fixture
def mina(db):
    return make_user("mina")


def test_the_owner_sees_and_saves_their_display_name_language_and_time_zone(mina):
    client = signed_in(mina)
    page = client.get(reverse("account_settings"))
    assert page.status_code == 200
    assert 'value="ko"' in page.text  # settings.LANGUAGES
    assert 'value="Asia/Seoul"' in page.text  # zoneinfo.available_timezones()

    response = client.post(
        reverse("account_settings"),
        {"display_name": "Mina Kim", "language": "ko", "time_zone": "Asia/Seoul"},
    )

    assert response["Location"] == reverse("account_settings")
    profile = MemberProfile.objects.get(user=mina)
    assert (profile.display_name, profile.language, profile.time_zone) == (
        "Mina Kim",
        "ko",
        "Asia/Seoul",
    )
    # From the next page on, in the language just chosen (and the message saying so too).
    with translation.override("ko"):
        saved = gettext("Your settings are saved.")
    page = client.get(reverse("account_settings"))
    assert '<html lang="ko">' in page.text
    assert saved in page.text
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"


def test_an_unknown_language_or_time_zone_is_refused(mina):
    client = signed_in(mina)

    response = client.post(
        reverse("account_settings"),
        {"display_name": "", "language": "xx", "time_zone": "Mars/Olympus"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"language", "time_zone"}
    assert MemberProfile.objects.get(user=mina).time_zone == ""


def test_anonymous_visitors_are_sent_to_log_in(client):
    for name in ("account_settings", "account_sign_out_everywhere"):
        response = client.post(reverse(name))
        assert response["Location"].startswith(reverse("login"))


def test_each_member_sees_and_saves_only_their_own_settings(mina, teammate):
    MemberProfile.objects.filter(user=teammate).update(display_name="Tae the Great")
    client = signed_in(mina)

    page = client.get(reverse("account_settings"))
    client.post(reverse("account_settings"), {"display_name": "Mina", "language": ""})

    assert "Tae the Great" not in page.text
    assert MemberProfile.objects.get(user=teammate).display_name == "Tae the Great"
    assert MemberProfile.objects.get(user=mina).display_name == "Mina"


def test_the_page_lists_where_the_member_is_signed_in(mina):
    laptop = signed_in(mina, agent="Laptop Browser")
    signed_in(mina, agent="Phone Browser")

    page = laptop.get(reverse("account_settings")).text

    assert "This browser" in page
    assert "Phone Browser" in page
    assert "Laptop Browser" not in page  # shown as "This browser"


def test_signing_out_everywhere_ends_every_session_this_one_included(mina):
    laptop, phone = signed_in(mina), signed_in(mina)

    response = laptop.post(reverse("account_sign_out_everywhere"))

    assert response["Location"] == reverse("login")
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not MemberSession.objects.exists()


def test_a_member_signs_out_another_of_their_sessions(mina):
    laptop, phone = signed_in(mina), signed_in(mina)
    phone_session = MemberSession.objects.get(session_key=phone.cookies["sessionid"].value)

    laptop.post(reverse("account_sign_out_session", args=[phone_session.pk]))

    assert not is_signed_in(phone)
    assert is_signed_in(laptop)


def test_another_member_cannot_end_someone_elses_session(mina, teammate):
    minas = signed_in(mina)
    minas_session = MemberSession.objects.get(session_key=minas.cookies["sessionid"].value)
    taes = signed_in(teammate)

    taes.post(reverse("account_sign_out_session", args=[minas_session.pk]))

    assert is_signed_in(minas)
    assert Session.objects.filter(session_key=minas_session.session_key).exists()


def test_records_of_ended_sessions_are_dropped_from_the_list(mina):
    laptop, phone = signed_in(mina), signed_in(mina)
    phone.post(reverse("logout"))
    Session.objects.exclude(session_key=laptop.cookies["sessionid"].value).delete()

    page = laptop.get(reverse("account_settings"))

    assert len(page.context["sessions"]) == 1
    assert MemberSession.objects.count() == 1


def test_local_accounts_get_a_password_link_and_the_change_keeps_the_session_listed(mina):
    client = signed_in(mina)
    assert reverse("password_change") in client.get(reverse("account_settings")).text

    client.post(
        reverse("password_change"),
        {"old_password": "pw", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert is_signed_in(client)
    assert MemberSession.objects.get().session_key == client.cookies["sessionid"].value


def test_members_without_a_password_here_get_no_password_link(db):
    ana = User.objects.create_user("ana", "ana@example.com")  # signs in with the provider
    client = Client()
    client.force_login(ana)

    page = client.get(reverse("account_settings")).text

    assert reverse("password_change") not in page
    assert "there is no password here" in page
