"""Rate limits keyed by the client's address: guessing share tokens."""

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache


def client_address(request):
    """The visitor's address, for rate limits. Behind our TLS proxy REMOTE_ADDR is the
    proxy's: the visitor is then the rightmost X-Forwarded-For entry, the one our proxy
    appended (entries to its left come from the client and may be forged)."""
    if getattr(settings, "BEHIND_TLS_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            try:  # It becomes part of a cache key: only ever a plain address.
                return str(ipaddress.ip_address(hops[-1]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR", "")


def _miss_key(address):
    return f"share-miss:{address}:{int(time.time() // 60)}"


def share_guessing_blocked(address):
    return cache.get(_miss_key(address), 0) >= settings.BANANA_SHARE_MISSES_PER_MINUTE


def note_share_miss(address):
    key = _miss_key(address)
    cache.add(key, 0, timeout=120)
    try:
        cache.incr(key)
    except ValueError:  # Expired between add and incr.
        cache.set(key, 1, timeout=120)
