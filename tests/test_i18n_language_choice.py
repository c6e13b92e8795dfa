"""Which language and time zone a page is in: the member's saved choice, else the browser's
(the switcher's cookie, else Accept-Language, else English); and the switcher itself."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, pgettext

from generations import credits, languages, usage
from generations.accounts.members import profile_for
from generations.credits import format_credits
from generations.forms import rejection_text
from generations.images import ImageRejected, validate_upload

from .conftest import make_user
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


def lang_of(response):
    return response.text.split('<html lang="', 1)[1].split('"', 1)[0]


def signed_in(user, **headers):
    client = Client(**headers)
    client.force_login(user)
    return client


def test_english_is_the_default():
    assert lang_of(Client().get(reverse("login"))) == "en"


def test_a_korean_browser_gets_korean_until_it_switches():
    client = Client(headers={"accept-language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert lang_of(client.get(reverse("login"))) == "ko"

    response = client.post(reverse("set_language"), {"language": "en", "next": "/login/?x=1"})

    assert response.status_code == 302
    assert response["Location"] == "/login/?x=1"
    assert lang_of(client.get(reverse("login"))) == "en"


def test_the_members_saved_language_wins_over_the_browsers():
    mina = make_user("mina")
    profile = profile_for(mina)
    profile.language = "en"
    profile.save()

    client = signed_in(mina, headers={"accept-language": "ko"})

    assert lang_of(client.get(reverse("home"))) == "en"


def test_a_member_without_a_saved_language_gets_the_browsers():
    client = signed_in(make_user("mina"), headers={"accept-language": "ko"})

    assert lang_of(client.get(reverse("home"))) == "ko"


def test_the_switcher_saves_a_members_choice_and_sets_the_cookie_for_public_pages():
    mina = make_user("mina")
    client = signed_in(mina)

    response = client.post(reverse("set_language"), {"language": "ko", "next": "/history/?q=a"})

    assert response["Location"] == "/history/?q=a"
    assert profile_for(mina).language == "ko"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    assert lang_of(client.get(reverse("history"))) == "ko"


def test_a_saved_language_reaches_the_cookie_so_public_pages_use_it_too():
    mina = make_user("mina")
    profile = profile_for(mina)
    profile.language = "ko"
    profile.save()
    client = signed_in(mina)

    client.get(reverse("home"))

    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    assert lang_of(client.get(reverse("login"))) == "ko"


def test_the_switcher_refuses_a_foreign_next_and_an_unknown_language():
    mina = make_user("mina")
    client = signed_in(mina)

    response = client.post(
        reverse("set_language"), {"language": "xx", "next": "https://evil.example/"}
    )

    assert not response["Location"].startswith("https://evil.example")
    assert profile_for(mina).language == ""


def test_the_switcher_needs_a_csrf_token():
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("set_language"), {"language": "ko", "next": "/login/"})

    assert response.status_code == 403


def test_times_are_in_the_browsers_zone_unless_the_member_saved_one():
    mina = make_user("mina")
    with time_machine.travel(datetime(2026, 1, 2, 23, 30, tzinfo=UTC)):
        credits.grant(mina, 5, reason="start")
    client = signed_in(mina)
    client.cookies[languages.TIME_ZONE_COOKIE] = "Asia/Seoul"
    assert "01/03/2026" in client.get(reverse("credit_ledger")).text

    client.post(reverse("account_settings"), {"time_zone": "America/New_York", "language": ""})

    assert "01/02/2026" in client.get(reverse("credit_ledger")).text


def test_credits_read_the_same_in_both_languages():

    for language in ("en", "ko"):
        with translation.override(language):
            assert format_credits("12500.50") == "12500.5"
            assert format_credits("0.250") == "0.25"


def test_the_javascript_catalogue_is_served_per_language_and_cached():
    url = reverse("javascript_catalog", args=["ko", languages.catalogue_version()])

    response = Client().get(url)

    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    assert "django.pluralidx" in response.text
    old = Client().get(reverse("javascript_catalog", args=["ko", "0" * 12]))
    assert old.status_code == 200
    assert "no-cache" in old["Cache-Control"]
    assert Client().get(reverse("javascript_catalog", args=["xx", "0"])).status_code == 404


def test_a_generation_page_uses_the_members_language():
    mina = make_user("mina")
    g = make_generation(mina)
    client = signed_in(mina, headers={"accept-language": "ko"})

    assert lang_of(client.get(reverse("generation_detail", args=[g.pk]))) == "ko"


def test_a_password_reset_mail_is_in_the_language_it_was_asked_in(smtp_inbox):
    make_user("mina")
    client = Client(headers={"accept-language": "ko"})

    client.post(reverse("password_reset"), {"email": "mina@example.com"})

    (_sender, _recipients, message) = smtp_inbox.messages[-1]
    with translation.override("ko"):
        subject = gettext("Reset your Banana Studio password")
    assert message["Subject"] == subject


@pytest.mark.parametrize(
    "data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 64], ids=repr
)
def test_why_an_upload_was_refused_reads_the_same_in_english_when_translated(data):
    with pytest.raises(ImageRejected) as refused:
        validate_upload(data, max_bytes=1000)
    with pytest.raises(ImageRejected) as too_big:
        validate_upload(b"x" * 2_000_000, max_bytes=1_048_576)

    with translation.override("en"):
        assert rejection_text(refused.value) == refused.value.message
        assert rejection_text(too_big.value) == "The file is too large (the limit is 1 MB)."


def test_the_usage_csv_is_headed_in_the_language_it_was_asked_in_even_when_read_later():
    with translation.override("ko"):
        lines = usage.csv_lines(date(2026, 1, 1), date(2026, 1, 31))
        korean = [pgettext("usage CSV column", str(name)) for name in usage.CSV_HEADER]

    with translation.override("en"):
        header = next(iter(lines))

    assert header == ",".join(korean) + "\r\n"


def test_ledger_reasons_we_write_read_in_each_readers_language(settings):
    settings.BANANA_STARTING_CREDITS = 10
    with translation.override("ko"):
        member = make_user("jiwoo")
        account = member.credit_account
        account.monthly_allowance = 5
        account.save()
        credits.renew_monthly_allowance(member, date(2026, 11, 2))

    korean = signed_in(member, HTTP_ACCEPT_LANGUAGE="ko").get(reverse("credit_ledger")).text
    english = signed_in(member, HTTP_ACCEPT_LANGUAGE="en").get(reverse("credit_ledger")).text

    assert "가입 크레딧" in korean and "월 지급량 (2026-11)" in korean
    assert "Starting credits" in english and "Monthly allowance for 2026-11" in english
    assert "Starting credits" not in korean and "가입" not in english
