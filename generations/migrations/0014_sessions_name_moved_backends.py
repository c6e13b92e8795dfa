from django.conf import settings
from django.db import migrations

# The sign-in backends moved into generations/accounts/. A session stores the dotted path
# of the backend that signed it in, and Django signs out any session whose backend is no
# longer in AUTHENTICATION_BACKENDS: without this, every member would be signed out.
MOVED = {
    "generations.accounts.LocalPasswordBackend": "generations.accounts.security.LocalPasswordBackend",
    "generations.oidc.ProviderBackend": "generations.accounts.oidc.ProviderBackend",
}


def rename_backends(apps, schema_editor, moved=MOVED):
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return
    from django.contrib.auth import BACKEND_SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = store.decode(session.session_data)
        backend = data.get(BACKEND_SESSION_KEY)
        if backend in moved:
            data[BACKEND_SESSION_KEY] = moved[backend]
            Session.objects.filter(pk=session.pk).update(session_data=store.encode(data))


def rename_back(apps, schema_editor):
    rename_backends(apps, schema_editor, {new: old for old, new in MOVED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0013_verbose_names"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(rename_backends, rename_back)]
