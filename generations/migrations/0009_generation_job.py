from django.db import migrations, models
from django.db.models import F


def each_old_generation_is_its_own_job(apps, schema_editor):
    Generation = apps.get_model("generations", "Generation")
    Generation.objects.filter(job_id__isnull=True).update(job_id=F("id"))


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0008_api_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="job_id",
            field=models.UUIDField(
                blank=True, db_index=True, editable=False, null=True, verbose_name="job"
            ),
        ),
        migrations.RunPython(each_old_generation_is_its_own_job, migrations.RunPython.noop),
    ]
