"""What common pages and answers cost in queries, so pages stay within reach of a bare view."""

import pytest
from django.urls import reverse

from generations import credits

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


def test_the_credit_header_costs_one_query(member, django_assert_num_queries):
    credits.summary_for(member)  # the month's allowance is credited once
    with django_assert_num_queries(1):
        summary = credits.summary_for(member)
    assert summary.available == 1000


def test_the_header_follows_the_team_default_allowance(member, settings):
    from generations.models import TeamSettings

    TeamSettings.objects.create(pk=1, default_monthly_allowance=40)
    assert credits.summary_for(member).allowance == 40


def test_a_poll_of_finished_cards_costs_five_queries_however_many(
    member_client, member, django_assert_max_num_queries
):
    done = [make_generation(member) for _ in range(3)]
    watch = [f"{g.pk}:in_progress" for g in done]
    member_client.get(reverse("home"))
    # The session, the member, the cards, their images, and the header once settled.
    with django_assert_max_num_queries(5):
        member_client.get(reverse("generation_statuses"), {"watch": watch})
