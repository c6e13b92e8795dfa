import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from generations import credits


@pytest.mark.django_db
def test_demo_admin_is_created_once_with_credits_and_a_printed_password(client, capsys):
    call_command("ensure_demo_admin")
    out = capsys.readouterr().out
    password = out.split("Password:")[1].strip()

    admin = get_user_model().objects.get()
    assert admin.is_superuser
    assert client.login(username="admin", password=password)
    assert credits.summary_for(admin).available > 0

    call_command("ensure_demo_admin")
    assert get_user_model().objects.count() == 1
    assert capsys.readouterr().out == ""
