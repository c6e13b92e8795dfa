from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0018_library_presets"),
    ]

    operations = [
        migrations.AddField(
            model_name="sharelink",
            name="allow_download",
            field=models.BooleanField(default=False, verbose_name="allow downloads"),
        ),
    ]
