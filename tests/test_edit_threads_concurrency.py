"""Edits are generations: fifty concurrent edits of one image on a budget of ten make
exactly ten, each thread through the view over its own database connection (the pattern of
tests/test_credits_concurrency.py, whose `database` fixture runs it on SQLite or
PostgreSQL, whichever DATABASE_URL names)."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from generations import credits
from generations.models import CreditAccount, CreditLedgerEntry, Generation

from .conftest import make_user
from .sharing_builders import make_generation
from .test_credits_concurrency import PRICE, THREADS, database, spent  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def edit_all(user, image):
    barrier = threading.Barrier(THREADS)
    answers: list = [None] * THREADS

    def run(i):
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            answers[i] = client.post(
                reverse("generation_edit", args=[image.pk]),
                {"prompt": f"edit {i}"},
                headers={"HX-Request": "true"},
            )
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    return answers


@pytest.mark.usefixtures("database")
def test_fifty_edits_of_one_image_on_a_budget_of_ten_make_exactly_ten(emulator):
    owner = make_user("painter")
    editor = make_user("racer")
    image = make_generation(owner, prompt="the original", visibility="team")
    credits.grant(editor, PRICE * 10, reason="exactly ten")

    answers = edit_all(editor, image)

    made = [a for a in answers if a.status_code == 204]
    refused = [a for a in answers if "Not enough credits: 0 available, 0.5 needed." in a.text]
    assert len(made) == 10 and len(refused) == 40
    edits = Generation.objects.filter(owner=editor)
    assert edits.count() == 10
    assert set(edits.values_list("parent_id", "thread_id")) == {(image.pk, image.pk)}
    assert emulator.submit_count == 10
    account = CreditAccount.objects.get(user=editor)
    assert account.balance == 0
    assert account.balance + account.held + spent(editor) == PRICE * 10
    assert CreditLedgerEntry.objects.filter(kind="hold").count() == 10
