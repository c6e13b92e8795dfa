"""Cards (templates/components/card.jinja, drawn by Jinja2 through {% card %}): what a member
typed is shown as text on every page that shows a card, and a card speaks the reader's
language and time zone like the page around it."""

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from generations import boards, sharing
from generations.models import Generation

from .conftest import make_user
from .sharing_builders import make_generation

HOSTILE = """<img src=x onerror="alert(1)"> & 'quoted' </p>"""


def pages_showing(generation, owner):
    collection = boards.create_collection(owner, "Mine")
    boards.add_to_collection(collection, generation)
    link = sharing.create_share_link(owner, generation=generation, show_prompts=True)
    return [
        reverse("home"),
        reverse("history"),
        reverse("gallery"),
        reverse("generation_detail", args=[generation.pk]),
        reverse("collection_detail", args=[collection.pk]),
        reverse("share_page", args=[link.token]),
    ]


@pytest.mark.django_db
def test_a_prompt_is_shown_as_text_on_every_page_with_cards(member, member_client):
    generation = make_generation(member, prompt=HOSTILE)

    for url in pages_showing(generation, member):
        html = member_client.get(url).text
        assert "<img src=x" not in html, url
        assert 'onerror="alert' not in html, url
        assert "&lt;img src=x onerror=" in html, url


@pytest.mark.django_db
def test_a_failed_card_reads_in_the_readers_language():
    mina = make_user("mina")
    make_generation(mina, status="failed", error_message="The provider could not make this image.")
    held = make_generation(mina, status="in_progress", prompt="running")
    Generation.objects.filter(pk=held.pk).update(
        credit_state=Generation.CreditState.HELD, hold_amount=Decimal("0.5")
    )
    client = Client(headers={"accept-language": "ko"})
    client.force_login(mina)

    english = Client(headers={"accept-language": "en"})
    english.force_login(mina)
    cards = " ".join(re.findall(r'<div class="tile-bar">.*?</div>', english.get("/").text, re.S))
    assert "not charged" in cards
    assert "0.5 credits on hold" in cards

    korean = client.get("/").text
    cards = " ".join(re.findall(r'<div class="tile-bar">.*?</div>', korean, re.S))
    assert "not charged" not in cards and "on hold" not in cards
    assert "Actions" not in korean.split('id="cards"')[1]
    assert "Retry" not in korean.split('id="cards"')[1]


@pytest.mark.django_db
def test_a_cards_date_is_in_the_readers_time_zone(settings):
    mina = make_user("mina")
    generation = make_generation(mina, prompt="late")
    Generation.objects.filter(pk=generation.pk).update(
        created_at=datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    )
    client = Client(headers={"accept-language": "en"})
    client.force_login(mina)
    client.cookies["tz"] = "Asia/Seoul"

    html = client.get("/").text

    assert 'datetime="2026-11-28T08:30:00+09:00"' in html


# --- The card engine's filters are Django's own (generations/rendering/engine.py) ---------


def render_in_card_engine(source, **context):
    from django.template import engines

    from generations.rendering import engine

    template = engines["jinja2"].from_string(source)
    return template.render({**context, "reading": engine.reading()})


@pytest.mark.django_db
def test_card_links_are_what_reverse_gives_under_each_script_prefix():
    from django.urls import set_script_prefix

    generation = uuid.uuid4()
    try:
        for prefix in ["/", "/studio/", "/"]:
            set_script_prefix(prefix)
            html = render_in_card_engine("{{ url('result_image', g, 3) }}", g=generation)
            assert html == reverse("result_image", args=[generation, 3])
            assert html.startswith(f"{prefix}")
    finally:
        set_script_prefix("/")


def test_card_dates_and_prompts_are_djangos_filters_in_each_language_and_zone():
    from django.template.defaultfilters import date, truncatechars
    from django.utils import timezone, translation

    moment = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    long_prompt = "e\u0301" * 150
    for language, zone in [("en", "UTC"), ("ko", "Asia/Seoul"), ("en", "Asia/Seoul")]:
        with translation.override(language), timezone.override(zone):
            html = render_in_card_engine(
                '{{ m|date("SHORT_DATETIME_FORMAT") }}|{{ m|date("c") }}|{{ p|truncatechars(80) }}',
                m=moment,
                p=long_prompt,
            )
            local = timezone.localtime(moment)
            expected = [
                date(local, "SHORT_DATETIME_FORMAT"),
                date(local, "c"),
                truncatechars(long_prompt, 80),
            ]
            assert html.split("|") == expected, (language, zone)


def test_a_safe_prompt_and_an_equal_plain_one_are_escaped_each_as_itself():
    from django.utils.safestring import mark_safe

    text = "<b>bold</b>"
    safe = render_in_card_engine("{{ p|truncatechars(80) }}", p=mark_safe(text))  # noqa: S308
    plain = render_in_card_engine("{{ p|truncatechars(80) }}", p=text)

    assert (safe, plain) == (text, "&lt;b&gt;bold&lt;/b&gt;")


@pytest.mark.django_db
def test_a_cards_status_is_the_models_own_label(member, rf):
    from django.utils import translation

    from generations.rendering import cards

    request = rf.get("/")
    request.user = member
    for status in Generation.Status.values:
        generation = make_generation(member, status=status, prompt=status)
        with translation.override("ko"):
            html = cards.render_card(request, "tile", generation=generation)
            label = generation.get_status_display()
        assert f'<span class="badge badge-{status}">{label}</span>' in html
