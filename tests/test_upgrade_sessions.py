"""Upgrading keeps members signed in: sessions made before the sign-in backends moved
(generations/accounts/) name the old paths, and migration 0014 renames them."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore

migration = importlib.import_module("generations.migrations.0014_sessions_name_moved_backends")


@pytest.mark.django_db
@pytest.mark.parametrize("old", sorted(migration.MOVED))
def test_a_session_signed_in_before_the_move_stays_signed_in(client, old):
    user = get_user_model().objects.create_user("ada", password="pw-1234567")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = old
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    client.cookies["sessionid"] = session.session_key
    assert client.get("/account/").status_code == 302  # the old path: signed out

    migration.rename_backends(apps, None)

    assert SessionStore(session.session_key).load()[BACKEND_SESSION_KEY] == migration.MOVED[old]
    assert client.get("/account/").status_code == 200
