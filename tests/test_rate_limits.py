"""Share-token guessing is counted per client network, atomically, in the database."""

import threading

import pytest
from django.db import connection
from django.test import RequestFactory

from generations import ratelimit
from generations.models import RateCounter


def request_from(remote, forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return RequestFactory().get("/s/x/", REMOTE_ADDR=remote, **extra)


@pytest.mark.django_db(transaction=True)
def test_concurrent_misses_are_all_counted(settings):
    settings.BANANA_SHARE_MISSES_PER_MINUTE = 20
    refused = []
    start = threading.Barrier(40)

    def guess():
        start.wait()
        try:
            refused.append(ratelimit.note_share_miss(request_from("198.51.100.7")))
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert refused.count(False) == 20  # exactly the limit got through, whatever the race
    assert RateCounter.objects.get().hits == 40


@pytest.mark.django_db
def test_ipv6_clients_are_counted_per_64(settings):
    settings.BANANA_SHARE_MISSES_PER_MINUTE = 3
    for address in ("2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff:ffff:ffff:ffff"):
        assert not ratelimit.note_share_miss(request_from(address))
    blocked = ratelimit.note_share_miss(request_from("2001:db8:0:1:abcd::9"))
    assert blocked
    assert not ratelimit.note_share_miss(request_from("2001:db8:0:2::1"))


@pytest.mark.django_db
def test_a_forged_forwarded_for_is_ignored_from_an_untrusted_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.BANANA_SHARE_MISSES_PER_MINUTE = 2
    for i in range(3):
        blocked = ratelimit.note_share_miss(request_from("203.0.113.9", f"192.0.2.{i}"))
    assert blocked  # every forged address counted against the real one


def test_only_trusted_hops_are_skipped_from_the_right(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = request_from("10.0.0.2", "6.6.6.6, 198.51.100.4, 10.0.0.1")
    assert ratelimit.client_address(request) == "198.51.100.4"


@pytest.mark.django_db
def test_old_windows_are_pruned():
    ratelimit.hit("k", 60, now=1_000_000)
    ratelimit.hit("k", 60, now=2_000_000)
    assert ratelimit.prune(older_than_seconds=3600, now=2_000_000) == 1
    assert RateCounter.objects.get().window_start == 2_000_000 // 60 * 60
