# ruff: noqa: S608 (every name in this SQL is a constant of ours; no input reaches it)
"""SQLite's full-text index of prompts (FTS5), kept by triggers.

SQLite rebuilds a table for many schema changes (adding a column with a default, for
one), and the triggers go with the old table. So the index is not left to one migration:
after every `migrate` it is made sure of, and rebuilt when its triggers were missing.
(PostgreSQL's index is a stored column with a trigger, which survives such changes:
migration 0006.)
"""

from django.db import connections

from generations.models.generations import SQLITE_SEARCH_TABLE

TABLE = "generations_generation"
TRIGGERS = {
    f"{SQLITE_SEARCH_TABLE}_insert": f"""AFTER INSERT ON {TABLE} BEGIN
        INSERT INTO {SQLITE_SEARCH_TABLE}(rowid, prompt) VALUES (new.rowid, new.prompt); END""",
    f"{SQLITE_SEARCH_TABLE}_delete": f"""AFTER DELETE ON {TABLE} BEGIN
        INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}, rowid, prompt)
        VALUES ('delete', old.rowid, old.prompt); END""",
    f"{SQLITE_SEARCH_TABLE}_update": f"""AFTER UPDATE OF prompt ON {TABLE} BEGIN
        INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}, rowid, prompt)
        VALUES ('delete', old.rowid, old.prompt);
        INSERT INTO {SQLITE_SEARCH_TABLE}(rowid, prompt) VALUES (new.rowid, new.prompt); END""",
}


def ensure_sqlite_index(using="default"):
    """Create the FTS5 table and its triggers where missing; rebuild the index when any
    trigger was missing (rows may have changed without it). Returns True if rebuilt."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if TABLE not in tables:
            return False
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {SQLITE_SEARCH_TABLE} USING fts5("
            f"prompt, content='{TABLE}', content_rowid='rowid', tokenize='porter unicode61')"
        )
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}
        missing = [name for name in TRIGGERS if name not in present]
        for name in missing:
            cursor.execute(f"CREATE TRIGGER {name} {TRIGGERS[name]}")
        if missing:
            cursor.execute(
                f"INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}) VALUES ('rebuild')"
            )
    return bool(missing)
