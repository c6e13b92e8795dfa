import django.contrib.postgres.search
from django.db import migrations

# Kept here rather than imported: a migration must not change when the model module does.
TABLE = "generations_generation"
CONFIG = "english"
FTS = "generations_generation_search"

POSTGRES_FORWARD = [
    f"""CREATE TRIGGER generation_prompt_search BEFORE INSERT OR UPDATE OF prompt
        ON {TABLE} FOR EACH ROW EXECUTE FUNCTION
        tsvector_update_trigger(prompt_search, 'pg_catalog.{CONFIG}', prompt)""",
    f"UPDATE {TABLE} SET prompt_search = to_tsvector('{CONFIG}', prompt)",
    f"CREATE INDEX generation_prompt_search_gin ON {TABLE} USING gin (prompt_search)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS generation_prompt_search_gin",
    f"DROP TRIGGER IF EXISTS generation_prompt_search ON {TABLE}",
]
SQLITE_FORWARD = [
    f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
        prompt, content='{TABLE}', content_rowid='rowid', tokenize='porter unicode61')""",
    f"""CREATE TRIGGER {FTS}_insert AFTER INSERT ON {TABLE} BEGIN
        INSERT INTO {FTS}(rowid, prompt) VALUES (new.rowid, new.prompt); END""",
    f"""CREATE TRIGGER {FTS}_delete AFTER DELETE ON {TABLE} BEGIN
        INSERT INTO {FTS}({FTS}, rowid, prompt) VALUES ('delete', old.rowid, old.prompt); END""",
    f"""CREATE TRIGGER {FTS}_update AFTER UPDATE OF prompt ON {TABLE} BEGIN
        INSERT INTO {FTS}({FTS}, rowid, prompt) VALUES ('delete', old.rowid, old.prompt);
        INSERT INTO {FTS}(rowid, prompt) VALUES (new.rowid, new.prompt); END""",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TABLE IF EXISTS {FTS}",
]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0005_rate_counters"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="prompt_search",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(
            run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
