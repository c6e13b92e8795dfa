"""Rate limits keyed by the client's network (guessing share tokens, password sign-ins and
resets across usernames), or by another key (reset mails per address).

Hits are counted in the database with one atomic upsert per hit, so every process and
machine shares the count and concurrent guesses never slip through. IPv6 clients are
counted per /64 (one subscriber's whole network); the client's address is read from
X-Forwarded-For only when the request came from a trusted proxy.
"""

import ipaddress
import time

from django.conf import settings
from django.db import connection

from generations.models import RateCounter

SHARE_MISS_WINDOW = 60


def _address(text):
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _trusted(address):
    return any(address in ipaddress.ip_network(net) for net in settings.TRUSTED_PROXIES)


def client_address(request):
    """The client's address. A request from a trusted proxy names its client in
    X-Forwarded-For: read from the right, past our own proxies, the first other address is
    the client (entries further left come from the client and may be forged). From
    anywhere else the header is ignored."""
    remote = _address(request.META.get("REMOTE_ADDR"))
    if remote is None:
        return ""
    if not _trusted(remote):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = remote
    for hop in reversed(forwarded.split(",")):
        address = _address(hop)
        if address is None:
            break  # junk: trust nothing further left
        client = address
        if not _trusted(address):
            break
    return str(client)


def network_of(address):
    """What a limit counts: the address itself, or its /64 for IPv6."""
    parsed = _address(address)
    if parsed is None:
        return "unknown"
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def hit(key, window_seconds, now=None):
    """Count one hit of `key` in the current window; returns the window's count so far."""
    window = int((now or time.time()) // window_seconds) * window_seconds
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, window_start, hits) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (key, window_start) DO UPDATE SET hits = {table}.hits + 1 "
            "RETURNING hits",
            [key, window],
        )
        return cursor.fetchone()[0]


def seconds_left(window_seconds, now=None):
    """How long until the current window of `window_seconds` ends (at least 1)."""
    now = now or time.time()
    return max(1, int(window_seconds - now % window_seconds))


def prune(older_than_seconds=3600, now=None):
    """Drop windows that ended long ago; returns how many were dropped."""
    cutoff = (now or time.time()) - older_than_seconds
    return RateCounter.objects.filter(window_start__lt=cutoff).delete()[0]


def note_share_miss(request):
    """Count a share token that named nothing; True when this client has now guessed too
    often this minute."""
    key = f"share-miss:{network_of(client_address(request))}"
    return hit(key, SHARE_MISS_WINDOW) > settings.BANANA_SHARE_MISSES_PER_MINUTE
