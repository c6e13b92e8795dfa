"""A bounded fault-and-abuse soak over real HTTP on loopback: while members generate
(against an upstream that fails now and then), others search deep, send oversized
uploads and loop on the login form. The health probe answers throughout, and nothing is
lost: every accepted submit ends final with its credits settled or released exactly once.
"""

import io
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from PIL import Image

from generations import credits, services
from generations.models import CreditAccount, CreditLedgerEntry, Generation

from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

MEMBERS, SUBMITS_EACH, ROUNDS = 3, 4, 6


def session_for(live_server, user):
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    page = session.get(f"{live_server.url}/", timeout=30)
    session.headers["X-CSRFToken"] = page.text.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
    session.headers["Referer"] = live_server.url + "/"
    return session


def bomb():
    buffer = io.BytesIO()
    Image.new("1", (6300, 6300)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def test_abuse_does_not_stop_members_or_lose_credits(live_server, emulator, settings):
    settings.BANANA_DEFAULT_MAX_PER_MINUTE = 0
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 0
    settings.BANANA_MEMBER_MAX_BODY = 5 * 1024 * 1024
    emulator.config.failure_rate = 0.3
    emulator.config.error_500_rate = 0.1
    members = [make_user(f"maker{i}") for i in range(MEMBERS)]
    for member in members:
        credits.grant(member, 100, reason="soak")
    abuser = make_user("abuser")
    make_user("victim")
    base = live_server.url
    sessions = [session_for(live_server, m) for m in members]
    abusive = session_for(live_server, abuser)
    image = bomb()
    errors, health = [], []

    def guarded(work):
        def run():
            try:
                work()
            except Exception as exc:  # collected: the assertion below names it
                errors.append(repr(exc))
            finally:
                connection.close()

        return run

    def generate(session):
        for i in range(SUBMITS_EACH):
            answer = session.post(
                f"{base}/generate/",
                data={"prompt": f"soak {i}", "model": "google/gempix2"},
                headers={"HX-Request": "true"},
                timeout=60,
            )
            assert answer.status_code == 200, answer.status_code

    def search():
        for i in range(ROUNDS):
            after = f"2020-01-01T00:00:00+00:00~00000000-0000-0000-0000-{i:012d}"
            answer = abusive.get(f"{base}/gallery/", params={"q": "zzzqqq", "after": after})
            assert answer.status_code == 200

    def upload():
        for _ in range(ROUNDS):
            files = [("reference_files", (f"b{n}.png", image, "image/png")) for n in range(8)]
            answer = abusive.post(
                f"{base}/generate/", data={"prompt": "x", "model": "google/gempix2"}, files=files
            )
            assert answer.status_code in (400, 413)
            huge = abusive.post(f"{base}/generate/", data=b"x" * (6 * 1024 * 1024))
            assert huge.status_code == 413

    def login_loop():
        for n in range(ROUNDS * 2):
            answer = requests.post(
                f"{base}/login/", data={"username": "victim", "password": f"guess{n}"}, timeout=30
            )
            assert answer.status_code in (200, 403, 429)

    def probe():
        for _ in range(ROUNDS * 3):
            health.append(requests.get(f"{base}/healthz", timeout=10).status_code)

    work = [*(generate for _ in sessions), search, upload, login_loop, probe]
    args = [*sessions, None, None, None, None]
    threads = [
        threading.Thread(target=guarded(lambda w=w, a=a: w(a) if a is not None else w()))
        for w, a in zip(work, args, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    assert errors == []
    assert health and set(health) == {200}
    made = Generation.objects.filter(owner__in=members)
    assert made.count() == MEMBERS * SUBMITS_EACH
    emulator.config.failure_rate = emulator.config.error_500_rate = 0
    later = timezone.now() + timedelta(hours=1)
    for _ in range(20):  # the reconciler settles what nobody watched
        Generation.objects.update(last_checked_at=None)
        services.reconcile(now=later)
        if not made.in_flight().exists():
            break
    assert not made.in_flight().exists()
    assert not made.filter(credit_state=Generation.CreditState.HELD).exists()
    for member in members:
        account = CreditAccount.objects.get(user=member)
        entries = CreditLedgerEntry.objects.filter(account=account)
        assert entries.aggregate(s=Sum("amount"))["s"] == account.balance
        assert entries.aggregate(s=Sum("held_delta"))["s"] == account.held == Decimal(0)
