"""Prepared reads (generations/prepared.py): SQL the ORM builds once, run with each
request's own values, gives what the ORM's own query gives: every read, for the owner, a
teammate and staff, over team, private and deleted rows (CI runs this on SQLite and
PostgreSQL, and against the newest Django release: `make test-newest-django`)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ObjectDoesNotExist
from django.db.models.expressions import RawSQL
from django.http import Http404
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


# --- Every read against the plain ORM: owner, teammate, staff; team, private, deleted rows ---


@pytest.fixture
def world(member, teammate):
    """The member's team, private, deleted, running and failed generations (one with an API
    task and a result still waiting), a teammate's team and private ones, favourites,
    collections, model rules, and a settled charge this month."""
    from generations import boards
    from generations.models import ApiTask, ModelAccess, ResultImage

    staff = make_user("boss", is_staff=True)
    start = timezone.now()
    made = {}
    for n, (name, owner, extra) in enumerate(
        [
            ("team", member, {}),
            ("private", member, {"visibility": "private"}),
            ("deleted", member, {"deleted_at": start}),
            ("running", member, {"status": "in_progress"}),
            ("failed", member, {"status": "failed", "error_message": "No."}),
            ("theirs", teammate, {}),
            ("their private", teammate, {"visibility": "private"}),
        ]
    ):
        made[name] = make_generation(
            owner, prompt=name, created_at=start - timedelta(seconds=n), **extra
        )
    ResultImage.objects.create(generation=made["team"], position=1, state="waiting")
    ApiTask.objects.create(
        generation=made["team"], key_name="ci", month=start.date().replace(day=1)
    )
    galleries.toggle_favourite(member, made["theirs"])
    galleries.toggle_favourite(teammate, made["team"])
    boards.create_collection(member, "Moons")
    boards.create_collection(member, "Bananas", visibility="private")
    boards.create_collection(teammate, "Theirs")
    named = ModelAccess.objects.create(model="google/gempix2", image_size="4k")
    named.users.add(teammate)
    ModelAccess.objects.create(model="other/model", auditors=True)
    account = CreditAccount.objects.get(user=member)
    CreditLedgerEntry.objects.create(
        account=account,
        kind=credits.Kind.SETTLE,
        amount=Decimal("-0.5"),
        held_delta=Decimal("0"),
        balance_after=account.balance,
        held_after=account.held,
        idempotency_key="settle-world",
    )
    return {"owner": member, "teammate": teammate, "staff": staff, **made}


def _calls(world, viewer):
    """Each prepared read with the values a page of `viewer` sends it."""
    from generations import boards
    from generations.accounts import members
    from generations.views import media

    user = world[viewer]
    every = [world[name].pk for name in world if name not in ("owner", "teammate", "staff")]
    oldest = world["their private"]
    month = credits.month_start_datetime()
    return [
        (galleries._WATCHED, user.is_staff, {"user_pk": user.pk, "ids": every}),
        (galleries._IN_FLIGHT, user.is_staff, {"user_pk": user.pk}),
        *(
            (galleries._PAGES, (mode, user.is_staff, size), {"user_pk": user.pk, **cursor})
            for mode in ("history", "team")
            for size in (2, 20)
            for cursor in ({}, {"created": oldest.created_at, "pk": oldest.pk})
        ),
        *(
            (
                media._VISIBLE_RESULT,
                user.is_staff,
                {"user_pk": user.pk, "generation_id": pk, "position": position},
            )
            for pk in every
            for position in (0, 1)
        ),
        (credits._ACCOUNT_MONTH, (), {"user": user.pk, "start": month}),
        (members._RULES, (), {"user": user.pk}),
        (boards._TO_PICK, (), {"owner": user.pk}),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["owner", "teammate", "staff"])
def test_every_prepared_read_reads_what_the_orm_reads(world, viewer):
    read_something = 0
    for read, shape, values in _calls(world, viewer):
        queryset = read.build(shape, **{name: values.get(name) for name in read.fields})
        expected = [tuple(row) for row in queryset]

        rows = read.rows(shape, **values)

        if not queryset.ordered:
            rows, expected = sorted(rows, key=repr), sorted(expected, key=repr)
        assert rows == expected, (read.build, shape, values)
        read_something += bool(rows)
    assert read_something >= 8


def card(generation, *, favourite=True):
    """What a card shows of a generation and what it was read with (a tile in the status
    poll shows no favourite)."""
    return (
        generation.pk,
        generation.prompt,
        generation.status,
        generation.visibility,
        generation.owner.get_username(),
        generation.is_favourite if favourite else None,
        key_name(generation),
        [(r.position, r.state, r.thumbnail.name, r.file.name) for r in generation.results.all()],
    )


def key_name(generation):
    try:
        return generation.api_task.key_name
    except ObjectDoesNotExist:
        return None


def _orm_cards(queryset, user, **shown):
    return [card(generation, **shown) for generation in galleries.with_cards(queryset, user)]


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["owner", "teammate", "staff"])
@pytest.mark.parametrize("mode", ["history", "team"])
def test_a_prepared_page_of_cards_is_the_orm_page(world, viewer, mode):
    user = world[viewer]
    shown = galleries.history_for(user) if mode == "history" else galleries.team_gallery_for(user)

    page, more = galleries.card_page(user, mode, size=20)

    assert [card(g) for g in page] == _orm_cards(shown.order_by("-created_at", "-pk"), user)
    assert more is False


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["owner", "teammate", "staff"])
def test_watched_cards_are_the_orm_cards_with_the_viewers_credits(world, viewer):
    user = world[viewer]
    ids = [g.pk for name, g in world.items() if name not in ("owner", "teammate", "staff")]
    account = CreditAccount.objects.get(user=user)

    watched = galleries.watched_cards(user, ids)

    visible = Generation.objects.visible_to(user).filter(pk__in=ids)
    assert sorted(card(g, favourite=False) for g in watched) == sorted(
        _orm_cards(visible, user, favourite=False)
    )
    assert {(g.credits_available, g.credits_held) for g in watched} == {
        (account.balance, account.held)
    }


@pytest.mark.django_db
def test_who_sees_which_rows_through_prepared_reads(world):
    def prompts(user):
        return {g.prompt for g in galleries.watched_cards(user, [g.pk for g in rows])}

    rows = [g for name, g in world.items() if name not in ("owner", "teammate", "staff")]
    team = {"team", "running", "failed", "theirs"}

    assert prompts(world["owner"]) == team | {"private"}
    assert prompts(world["teammate"]) == team | {"their private"}
    assert prompts(world["staff"]) == team | {"private", "their private"}
    assert galleries.count_in_flight(world["owner"]) == 1
    assert galleries.count_in_flight(world["teammate"]) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["owner", "teammate", "staff"])
def test_an_images_permission_check_agrees_with_the_orm(world, viewer):
    from generations.models import ResultImage

    user = world[viewer]
    visible = Generation.objects.visible_to(user)
    for name, generation in world.items():
        if name in ("owner", "teammate", "staff"):
            continue
        for position in (0, 1):
            expected = (
                ResultImage.objects.filter(
                    generation__in=visible, generation=generation, position=position
                )
                .filter(state=ResultImage.State.STORED)
                .select_related("generation")
                .first()
            )
            try:
                seen = media.visible_result(user, generation.pk, position)
            except Http404:
                seen = None
            assert (seen and (seen.pk, seen.file.name, seen.generation.prompt)) == (
                expected and (expected.pk, expected.file.name, expected.generation.prompt)
            ), (viewer, name, position)


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["owner", "teammate", "staff"])
def test_a_members_model_rules_and_collections_agree_with_the_orm(world, viewer):
    from generations import boards
    from generations.accounts import members
    from generations.models import Collection

    user = world[viewer]

    picked = boards.to_pick_from(user)
    allowed = members.allowed_models(user)

    assert [(c.pk, c.name) for c in picked] == list(
        Collection.objects.filter(owner=user).values_list("pk", "name")
    )
    fresh = type(user).objects.get(pk=user.pk)  # nothing kept on it from another read
    members.keep_rules_read(
        fresh,
        type(user).objects.annotate(rules=members.rules_of("pk")).get(pk=user.pk).rules,
    )
    assert members.allowed_models(fresh) == allowed
