"""Callbacks to members' URLs: when a generation made through the API with a
`callback_url` is settled (final, images kept), we POST the provider's callback body there,
signed per the Standard Webhooks specification, and retry with backoff for about a day.

Signing (https://www.standardwebhooks.com): headers `webhook-id` (the same on every
attempt), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the bytes of the key's
signing secret `whsec_<base64>`. Any Standard Webhooks library verifies it.

Addresses: the URL is checked when it is submitted and again at every attempt, and the
address actually connected to is checked before a byte is sent (no private, loopback or
link-local targets in production; tests allow loopback through BANANA_FETCH_ALLOW_PRIVATE).
Redirects are not followed.

Deliveries run in the worker's callback lane (generations/lanes.py), never beside sending
and storing; each attempt ends within BANANA_CALLBACK_DEADLINE seconds whatever the
receiver does (a timer closes the socket of one that trickles its answer), and one member
has at most BANANA_CALLBACKS_PER_MEMBER attempts running per worker process, so one slow
receiver cannot take the lane from the rest of the team.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

import urllib3
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from generations.api import task_bodies
from generations.background import enqueue_after_commit, release_connection
from generations.fetch import FetchError, FetchPolicy, address_refused_message, check_url
from generations.models import ApiTask, CallbackAttempt, CallbackDelivery, Generation
from generations.models.generations import GenerationId

logger = logging.getLogger(__name__)

State = CallbackDelivery.State
# Waits before the 2nd, 3rd, … attempt: eleven attempts over about 24 hours.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=8),
)
TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0)
USER_AGENT = "BananaStudio-webhooks/1"
# A member whose receivers already hold their share of the lane waits this long, uncounted.
BUSY_RETRY = timedelta(seconds=2)


def address_policy() -> FetchPolicy:
    """The address policy of our own downloads (https and public addresses only in
    production), without the allowlist of image hosts, which is about the upstream's."""
    return FetchPolicy(
        require_https=settings.BANANA_FETCH_REQUIRE_HTTPS,
        allow_private=settings.BANANA_FETCH_ALLOW_PRIVATE,
    )


# --- Signing -------------------------------------------------------------------------------


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header value for one message (Standard Webhooks, v1)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    secret: str, message_id: str, body: str, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


# --- Starting a delivery -------------------------------------------------------------------


def generation_settled(generation_id: GenerationId) -> None:
    """Called whenever a generation may have become settled (final, images kept or given
    up on). Starts its callback once, if it has one; a no-op for everything else."""
    task = (
        ApiTask.objects.filter(generation_id=generation_id, key__isnull=False)
        .exclude(callback_url="")
        .select_related("key")
        .first()
    )
    if task is None or task.key is None:
        return
    generation = Generation.objects.prefetch_related("results").get(pk=generation_id)
    if not task_bodies.is_settled(generation):
        return
    body = task_bodies.callback_body(generation, task_bodies.base_url_of(generation, task.base_url))
    try:
        with transaction.atomic():
            delivery = CallbackDelivery.objects.create(
                generation=generation,
                key=task.key,
                url=task.callback_url,
                body=json.dumps(body, separators=(",", ":")),
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return  # another caller started it
    enqueue_after_commit("deliver_callback", delivery_id=str(delivery.pk), attempt=1)


# --- Delivering ----------------------------------------------------------------------------


class _Refused(Exception):
    """The connected address is not allowed; not an OSError, so urllib3 never retries."""


class _Deadline:
    """Shuts the sockets of one delivery down once its time is up: urllib3's timeouts are
    per read, and a receiver sending a byte now and then never trips them."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def guard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# The deadline of the delivery this thread is making, for the connections it opens.
_current = threading.local()


def _host_of(ip: str) -> str:
    return f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip


class _CheckedPeer:
    peer_policy: FetchPolicy

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        try:
            peer = str(sock.getpeername()[0]).split("%", 1)[0]
            check_url(f"http://{_host_of(peer)}/", self.peer_policy)
        except (OSError, ValueError, FetchError) as exc:
            sock.close()
            raise _Refused(str(exc)) from None
        deadline: _Deadline | None = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.guard(sock)
        return sock


@functools.cache
def _pool_classes(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    attrs = {"peer_policy": FetchPolicy(require_https=False, allow_private=allow_private)}
    http_conn = type("CheckedHTTPConnection", (_CheckedPeer, HTTPConnection), attrs)
    https_conn = type("CheckedHTTPSConnection", (_CheckedPeer, HTTPSConnection), attrs)
    http_pool: type[HTTPConnectionPool] = type(
        "CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}
    )
    https_pool: type[HTTPSConnectionPool] = type(
        "CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
    )
    return {"http": http_pool, "https": https_pool}


def _pool_manager(policy: FetchPolicy) -> urllib3.PoolManager:
    manager = urllib3.PoolManager(num_pools=1, maxsize=1)
    manager.pool_classes_by_scheme = _pool_classes(policy.allow_private)
    return manager


def post(
    url: str, body: str, headers: dict[str, str], policy: FetchPolicy, *, deadline: float
) -> int:
    """POST `body` to `url` under the address policy, all over within `deadline` seconds;
    the HTTP status, or FetchError."""
    check_url(url, policy)
    _current.deadline = watch = _Deadline(deadline)
    try:
        return _post(url, body, headers, policy)
    except FetchError:
        if watch.expired:
            raise FetchError(f"No answer within {deadline:g} seconds.", permanent=False) from None
        raise
    finally:
        watch.cancel()
        _current.deadline = None


def _post(url: str, body: str, headers: dict[str, str], policy: FetchPolicy) -> int:
    manager = _pool_manager(policy)
    try:
        response = manager.request(
            "POST",
            url,
            body=body.encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
            timeout=TIMEOUT,
            retries=False,
            redirect=False,
            preload_content=False,
        )
    except _Refused:
        host = urllib.parse.urlsplit(url).hostname or ""
        raise FetchError(address_refused_message(host), permanent=True) from None
    except urllib3.exceptions.HTTPError as exc:
        raise FetchError(f"Could not deliver: {type(exc).__name__}.", permanent=False) from None
    finally:
        manager.clear()
    try:
        response.read(4096, decode_content=False)  # a little of the answer; never all of it
    except urllib3.exceptions.HTTPError:
        pass
    finally:
        response.release_conn()
    watch: _Deadline | None = getattr(_current, "deadline", None)
    if watch is not None and watch.expired:
        # The status came in time, the rest of the answer did not: not a delivery.
        raise FetchError("The answer did not end in time.", permanent=False)
    return int(response.status)


def deliver(delivery_id: str, attempt: int) -> timedelta | None:
    """Make attempt number `attempt` of a delivery; the wait before the next one, or None
    when there is none (delivered, given up, cancelled, or another runner has it)."""
    now = timezone.now()
    claimed = CallbackDelivery.objects.filter(
        pk=delivery_id, state=State.PENDING, attempts=attempt - 1
    ).update(attempts=attempt, next_attempt_at=None)
    if not claimed:
        return None
    delivery = CallbackDelivery.objects.select_related("key__user").get(pk=delivery_id)
    key = delivery.key
    if key.revoked_at is not None or not key.user.is_active:
        _finish(delivery, State.CANCELLED, now)
        return None
    headers = signed_headers(key.signing_secret, delivery.message_id, delivery.body)
    started = time.monotonic()
    status: int | None = None
    error = ""
    release_connection()  # the receiver may take its time
    try:
        status = post(
            delivery.url,
            delivery.body,
            headers,
            address_policy(),
            deadline=settings.BANANA_CALLBACK_DEADLINE,
        )
    except FetchError as exc:
        error = exc.message
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    CallbackAttempt.objects.create(
        delivery=delivery,
        number=attempt,
        status_code=status,
        error=error[:300],
        duration_ms=elapsed_ms,
    )
    CallbackDelivery.objects.filter(pk=delivery.pk).update(last_status_code=status)
    if status is not None and 200 <= status < 300:
        _finish(delivery, State.DELIVERED, timezone.now())
        return None
    logger.info("Callback %s attempt %d failed: %s", delivery.message_id, attempt, error)
    if attempt > len(RETRY_DELAYS):
        _finish(delivery, State.FAILED, timezone.now())
        return None
    delay = RETRY_DELAYS[attempt - 1]
    CallbackDelivery.objects.filter(pk=delivery.pk, state=State.PENDING).update(
        next_attempt_at=timezone.now() + delay
    )
    return delay


class _MemberSlots:
    """How many attempts each member has running in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Counter[int] = Counter()

    @contextmanager
    def take(self, member_id: int) -> Iterator[bool]:
        with self._lock:
            free = self._running[member_id] < settings.BANANA_CALLBACKS_PER_MEMBER
            if free:
                self._running[member_id] += 1
        try:
            yield free
        finally:
            if free:
                with self._lock:
                    self._running[member_id] -= 1
                    if not self._running[member_id]:
                        del self._running[member_id]


_MEMBER_SLOTS = _MemberSlots()


@contextmanager
def member_slot(delivery_id: str) -> Iterator[bool]:
    """A running attempt's place among its member's: yields False when the member already
    has BANANA_CALLBACKS_PER_MEMBER running (try again after BUSY_RETRY)."""
    member_id = (
        CallbackDelivery.objects.filter(pk=delivery_id)
        .values_list("key__user_id", flat=True)
        .first()
    )
    if member_id is None:  # gone: deliver() finds nothing to do
        yield True
        return
    with _MEMBER_SLOTS.take(member_id) as free:
        yield free


def _finish(delivery: CallbackDelivery, state: CallbackDelivery.State, at: Any) -> None:
    CallbackDelivery.objects.filter(pk=delivery.pk, state=State.PENDING).update(
        state=state, finished_at=at, next_attempt_at=None
    )


def deliveries_of(user: Any, limit: int = 20) -> list[CallbackDelivery]:
    """The member's latest deliveries with their attempts, for the keys page."""
    return list(
        CallbackDelivery.objects.filter(key__user=user)
        .select_related("key")
        .prefetch_related("attempt_log")[:limit]
    )
