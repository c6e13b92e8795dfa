"""Cards (templates/components/card.jinja, drawn by Jinja2 through {% card %}): what a member
typed is shown as text on every page that shows a card, and a card speaks the reader's
language and time zone like the page around it."""

import re
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
