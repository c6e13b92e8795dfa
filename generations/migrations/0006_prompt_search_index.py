import django.contrib.postgres.search
from django.db import migrations

# PostgreSQL's search index. (SQLite's FTS5 index is made sure of after every migrate:
# generations/search_index.py.) Kept here rather than imported: a migration must not change
# when the model module does.
TABLE = "generations_generation"
CONFIG = "english"

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
            run({"postgresql": POSTGRES_FORWARD}),
            run({"postgresql": POSTGRES_BACKWARD}),
        ),
    ]
