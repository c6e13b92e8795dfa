"""Prepared reads (generations/prepared.py): SQL the ORM builds once, run with each
request's own values, gives what the ORM's own query gives."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

from generations import credits, galleries, prepared
from generations.models import CreditAccount, CreditLedgerEntry, Generation
from generations.views import media

from .conftest import make_user
from .sharing_builders import bulk_generations, make_generation


def as_cards(generations):
    return [
        (
            g.pk,
            g.owner.get_username(),
            g.is_favourite,
            g.created_at,
            [(r.position, r.state, r.thumbnail.name) for r in g.results.all()],
        )
        for g in generations
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["history", "team"])
def test_a_prepared_gallery_page_holds_what_the_unprepared_query_reads(member, teammate, mode):
    start = timezone.now()
    for n in range(7):
        owner = member if n % 2 else teammate
        make_generation(owner, prompt=f"p{n}", created_at=start - timedelta(seconds=n))
    galleries.toggle_favourite(member, Generation.objects.order_by("-created_at")[1])

    prepared_rows = galleries.card_page(member, mode, size=2)
    # `model` matches every row: the same page through the query built on each request.
    unprepared_rows = galleries.card_page(member, mode, {"model": "google/gempix2"}, size=2)

    assert as_cards(prepared_rows[0]) == as_cards(unprepared_rows[0])
    assert prepared_rows[1] == unprepared_rows[1] is True
    assert any(card[2] for card in as_cards(prepared_rows[0]))


@pytest.mark.django_db
def test_each_call_of_a_prepared_read_uses_its_own_member_and_cursor(member, teammate):
    bulk_generations(member, 5)
    bulk_generations(teammate, 3)

    mine, _more = galleries.card_page(member, "history", size=10)
    theirs, _more = galleries.card_page(teammate, "history", size=10)
    first, more = galleries.card_page(member, "history", size=2)
    after = galleries.cursor_of(first[-1])
    second, _ = galleries.card_page(member, "history", cursor=after, size=2)

    assert {g.owner_id for g in mine} == {member.pk} and len(mine) == 5
    assert {g.owner_id for g in theirs} == {teammate.pk} and len(theirs) == 3
    assert more and [g.pk for g in first + second] == [g.pk for g in mine[:4]]


@pytest.mark.django_db
def test_a_private_generation_stays_out_of_a_teammates_prepared_page(member, teammate):
    make_generation(member, prompt="mine only", visibility="private")
    make_generation(member, prompt="for the team")

    seen_by_teammate, _ = galleries.card_page(teammate, "team")
    seen_by_staff, _ = galleries.card_page(make_user("boss", is_staff=True), "team")

    assert [g.prompt for g in seen_by_teammate] == ["for the team"]
    assert sorted(g.prompt for g in seen_by_staff) == ["for the team", "mine only"]


@pytest.mark.django_db
def test_a_read_whose_sql_holds_a_value_as_text_is_refused():
    read = prepared.Read(
        Generation,
        lambda shape, owner: Generation.objects.filter(
            owner_id=RawSQL(str(owner), [])  # noqa: S611 (the mistake this refuses)
        ).values_list("pk"),
        owner=Generation._meta.get_field("owner"),
    )

    with pytest.raises(prepared.ShapeError, match="owner"):
        read.rows("any", owner=1)


@pytest.mark.django_db
def test_a_value_the_sql_does_not_need_is_left_out(member):
    generation = make_generation(member, visibility="private")
    staff = make_user("boss", is_staff=True)

    seen = media.visible_result(staff, generation.pk, 0)

    assert seen.generation.prompt == generation.prompt


@pytest.mark.django_db
@pytest.mark.parametrize("position", [40_000, 2**63, 2**64])
def test_an_image_position_beyond_any_column_is_not_found(member_client, member, position):
    generation = make_generation(member)

    response = member_client.get(reverse("result_thumbnail", args=[generation.pk, position]))

    assert response.status_code == 404


@pytest.mark.django_db
def test_a_read_that_sends_a_value_changed_is_refused():
    read = prepared.Read(
        Generation,
        lambda shape, words: Generation.objects.filter(prompt__icontains=words).values_list("pk"),
        words=Generation._meta.get_field("prompt"),
    )

    with pytest.raises(prepared.ShapeError, match="words"):
        read.rows("any", words="moon")


@pytest.mark.django_db
def test_an_empty_list_of_ids_reads_nothing(member):
    make_generation(member)

    assert galleries.watched_cards(member, []) == []
    read = prepared.Read(
        Generation,
        lambda shape, ids: Generation.objects.filter(pk__in=ids).values_list("pk"),
        ids=Generation._meta.pk,
    )
    assert read.rows("any", ids=[]) == []


@pytest.mark.django_db
def test_a_hundred_ids_each_go_where_they_belong(member):
    generation = make_generation(member)
    ids = [uuid.uuid4() for _ in range(120)]
    ids[117] = generation.pk

    seen = galleries.watched_cards(member, ids)

    assert [g.pk for g in seen] == [generation.pk]


@pytest.mark.django_db
def test_the_months_spending_is_exact_to_the_ledgers_precision(member):
    account = CreditAccount.objects.get(user=member)
    template = CreditLedgerEntry.objects.filter(account=account).first()
    copied = [f for f in CreditLedgerEntry._meta.concrete_fields if f.name != "id"]
    entries = []
    for n in range(1000):
        entry = CreditLedgerEntry(**{f.attname: getattr(template, f.attname) for f in copied})
        entry.kind = credits.Kind.SETTLE
        entry.amount, entry.held_delta = Decimal("-0.1"), Decimal("0")
        entry.created_at = timezone.now()
        if not CreditLedgerEntry._meta.get_field("idempotency_key").null:
            entry.idempotency_key = f"settle-{n}"
        entries.append(entry)
    CreditLedgerEntry.objects.bulk_create(entries)

    summary = credits.summary_for(member)

    assert summary.spent_this_month == Decimal("100")
    assert str(summary.spent_this_month).endswith(".000000")
