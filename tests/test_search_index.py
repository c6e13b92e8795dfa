"""SQLite's full-text index survives the table rebuilds SQLite does for schema changes."""

import pytest
from django.db import connection

from generations.models import Generation
from generations.search_index import TRIGGERS, ensure_sqlite_index

from .sharing_builders import make_generation

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="the sqlite variant; PostgreSQL's index is a column kept by a trigger",
    ),
]


def test_a_table_rebuild_that_drops_the_triggers_is_mended_after_migrate(member):
    before = make_generation(member, prompt="A yellow banana")
    with connection.cursor() as cursor:  # what SQLite's table remake does to triggers
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    during = make_generation(member, prompt="A purple banana")

    assert ensure_sqlite_index() is True  # migrate's post_migrate calls it

    found = set(Generation.objects.search("banana").values_list("pk", flat=True))
    assert found == {before.pk, during.pk}
    after = make_generation(member, prompt="A green banana")
    assert after.pk in set(Generation.objects.search("green").values_list("pk", flat=True))
    assert ensure_sqlite_index() is False  # nothing missing: no rebuild
