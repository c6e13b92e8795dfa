"""Random interleavings of submits, webhooks (duplicated, stale, reordered), polls, upstream
failures and reconciler runs never break the books."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from generations import credits, services, upstream
from generations.models import CreditAccount, CreditLedgerEntry, Generation, TeamMonth

from .conftest import make_user, refresh_now

pytestmark = pytest.mark.django_db

COUNTER = itertools.count()
D = Decimal


class CreditsMachine(RuleBasedStateMachine):
    emulator = None  # set by the test
    committed = None  # the `committed` fixture, set by the test: each step ends with a commit

    def __init__(self):
        super().__init__()
        n = next(COUNTER)
        self.members = [make_user(f"prop{n}-{i}") for i in range(2)]
        for member in self.members:
            credits.grant(member, "2.5", reason="start")
        self.seen_states = []

    def _mine(self):
        return Generation.objects.filter(owner__in=self.members)

    def _pick(self, data, queryset):
        pks = list(queryset.order_by("created_at").values_list("pk", "upstream_task_id"))
        return data.draw(st.sampled_from(pks)) if pks else None

    @rule(
        who=st.integers(0, 1),
        model=st.sampled_from(["google/gempix2", "google/gempix2", "google/not-a-model"]),
        size=st.sampled_from(["", "4k"]),
        lose_response=st.booleans(),
    )
    def submit(self, who, model, size, lose_response):
        self.emulator.config.drop_submit_response = lose_response
        try:
            with self.committed():
                services.create_generation(
                    self.members[who], model=model, prompt="p", image_size=size
                )
        except credits.CreditError:
            pass
        finally:
            self.emulator.config.drop_submit_response = False

    @rule(data=st.data(), outcome=st.sampled_from(["success", "failed", "text"]))
    def upstream_finishes(self, data, outcome):
        picked = self._pick(data, self._mine().filter(upstream_task_id__isnull=False))
        if picked:
            # May even flip a task that was already final: our side must not follow.
            self.emulator.finish(picked[1], outcome)

    @rule(data=st.data())
    def poll(self, data):
        picked = self._pick(data, self._mine())
        if picked:
            with self.committed():
                refresh_now(picked[0])

    @rule(data=st.data(), copies=st.integers(1, 3))
    def webhook(self, data, copies):
        picked = self._pick(data, self._mine().filter(upstream_task_id__isnull=False))
        if not picked:
            return
        try:
            state = upstream.query(picked[1])
        except upstream.UpstreamError:
            return
        self.seen_states.append((picked[0], state))
        for _ in range(copies):
            with self.committed():
                services.apply_upstream_state(picked[0], state)

    @rule(data=st.data())
    def stale_webhook_arrives_late(self, data):
        if self.seen_states:
            pk, state = data.draw(st.sampled_from(self.seen_states))
            with self.committed():
                services.apply_upstream_state(pk, state)

    @rule(late=st.booleans())
    def reconciler_runs(self, late):
        later = timedelta(hours=2) if late else timedelta(0)
        with self.committed():
            services.reconcile(now=timezone.now() + later)

    @rule(who=st.integers(0, 1))
    def admin_grants(self, who):
        credits.grant(self.members[who], "1", reason="top-up")

    @invariant()
    def books_balance(self):
        for member in self.members:
            account = CreditAccount.objects.get(user=member)
            assert account.balance >= 0
            assert account.held >= 0
            entries = CreditLedgerEntry.objects.filter(account=account)
            assert sum((e.amount for e in entries), D(0)) == account.balance
            assert sum((e.held_delta for e in entries), D(0)) == account.held
            held = Generation.objects.filter(owner=member, credit_state="held")
            assert account.held == sum(held.values_list("hold_amount", flat=True), D(0))

    @invariant()
    def every_final_generation_has_exactly_one_outcome(self):
        for generation in self._mine():
            kinds = sorted(
                CreditLedgerEntry.objects.filter(generation=generation).values_list(
                    "kind", flat=True
                )
            )
            if generation.is_final:
                assert kinds in (["hold", "settle"], ["hold", "release"]), kinds
            else:
                assert kinds == ["hold"], kinds

    @invariant()
    def team_counter_matches(self):
        committed = TeamMonth.objects.aggregate(total=Sum("committed"))["total"] or D(0)
        held = CreditAccount.objects.aggregate(total=Sum("held"))["total"] or D(0)
        charged = Generation.objects.filter(credit_state="settled").aggregate(
            total=Sum("credits_charged")
        )["total"] or D(0)
        assert committed == held + charged


@pytest.fixture
def a_model_the_upstream_rejects(settings):
    """On offer here (services.create_generation refuses models that are not), unknown
    upstream: its submits are rejected there."""
    reject = {"id": "google/not-a-model", "label": "Nope", "sizes": []}
    settings.BANANA_MODELS = [*settings.BANANA_MODELS, reject]


def test_books_always_balance(emulator, committed, a_model_the_upstream_rejects):
    emulator.config.in_progress_seconds = 3600  # tasks stay running until finish() is forced
    CreditsMachine.emulator = emulator
    CreditsMachine.committed = staticmethod(committed)
    run_state_machine_as_test(
        CreditsMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert emulator.submit_count > 0  # the sends waiting for a commit did run
