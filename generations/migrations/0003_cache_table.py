from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The default cache (share-link rate limits) is a database table; createcachetable
    # does nothing for other cache backends and for a table that exists.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("generations", "0002_credits_galleries_sharing")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
