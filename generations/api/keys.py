"""Members' personal API keys: making, hashing, authenticating and revoking them, and the
per-key limits (a monthly credit budget, an allowed-model list).

A key spends its member's credits through the same path as the web form
(`services.create_job` → `credits.place_holds`); the key's own monthly budget is one
more conditional UPDATE on a per-key month counter, in the transaction of the hold, so
concurrent submits can never overspend it either. Lock order: the member's CreditAccount,
the team's TeamMonth (credits.py), then the key's ApiKeyMonth.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext as _

from generations import catalogue, credits
from generations.accounts import members
from generations.models import ApiKey, ApiKeyMonth, ApiTask, CreditLedgerEntry, Generation
from generations.models.generations import GenerationId

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KEY_PREFIX = "bsk_"
_KEY_RE = re.compile(r"bsk_[A-Za-z0-9_-]{43}")
SHOWN_PREFIX_LENGTH = 12  # "bsk_" and 8 characters: enough to tell keys apart
SIGNING_SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
MAX_ACTIVE_KEYS = 20
# The last use is written at most this often per key: a busy script must not turn every
# request into a write.
LAST_USED_EVERY = timedelta(minutes=1)


class KeyBudgetReached(credits.CreditError):
    """The key's own monthly budget would be passed."""


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the key itself: shown once, never stored


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_signing_secret() -> str:
    return SIGNING_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def create_key(
    user: User,
    name: str,
    *,
    monthly_budget: Decimal | None = None,
    allowed_models: Iterable[str] = (),
) -> NewKey:
    """A new key for `user`; the returned secret is the only copy of the key there is."""
    if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_KEYS:
        raise ValueError(
            _("You have %(count)d active keys; revoke one first.") % {"count": MAX_ACTIVE_KEYS}
        )
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=name.strip()[:100],
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(secret),
        signing_secret=new_signing_secret(),
        monthly_budget=monthly_budget,
        allowed_models=sorted(set(allowed_models)),
    )
    return NewKey(key=key, secret=secret)


def revoke(key: ApiKey, by: User | None) -> bool:
    """Revoke a key for good: it is refused from the next request on."""
    return bool(
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=by
        )
    )


def revoke_all(user: User, by: User | None) -> int:
    """Revoke every active key of `user` (a new password, signing out everywhere); returns
    how many there were."""
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    )


def active_key_count(user: User) -> int:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).count()


def keys_of(user: User) -> list[ApiKey]:
    return list(ApiKey.objects.filter(user=user))


def key_from_secret(secret: str) -> ApiKey | None:
    """The usable key this secret is, or None (malformed, unknown, revoked, or its member
    deactivated). Read from the database every time, so a revocation counts at once."""
    if not _KEY_RE.fullmatch(secret):
        return None
    key = (
        ApiKey.objects.usable()
        .select_related("user")
        .annotate(access_rules=members.rules_of("user"))
        .filter(key_hash=hash_key(secret))
        .first()
    )
    if key is not None:
        # The member's model access rules, read in the same query: a submit needs them.
        members.keep_rules_read(key.user, key.access_rules)
        _note_use(key)
    return key


def key_from_header(authorization: str) -> ApiKey | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    scheme, _sep, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key_from_secret(secret.strip())


def _note_use(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is not None and key.last_used_at >= now - LAST_USED_EVERY:
        return  # the row just read shows a recent use: no statement at all
    due = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
    if ApiKey.objects.filter(due, pk=key.pk).update(last_used_at=now):
        key.last_used_at = now


def models_for(key: ApiKey) -> list[catalogue.ModelOption]:
    """The models this key may use and its member may too, in the catalogue's order."""
    return [m for m in members.allowed_models(key.user) if key.allows_model(m.id)]


# --- The key's monthly budget ----------------------------------------------------------------


def record_generations(
    key: ApiKey,
    generations: Sequence[Generation],
    amount: Decimal,
    *,
    callback_url: str = "",
    base_url: str = "",
) -> list[ApiTask]:
    """Count new generations' holds (`amount` each) against the key's month, inside the
    transaction of the holds; raises KeyBudgetReached (rolling it all back) when the budget
    would be passed. Their API task rows are written in one statement."""
    months: dict[date, Decimal] = defaultdict(Decimal)
    for generation in generations:
        months[credits.month_start(timezone.localdate(generation.created_at))] += amount
    for month, committed in months.items():
        if not _commit(key, month, committed):
            assert key.monthly_budget is not None  # without a budget the commit always succeeds
            raise KeyBudgetReached(
                _("The API key “%(name)s” has used its budget for this month (%(budget)s credits).")
                % {"name": key.name, "budget": credits.format_credits(key.monthly_budget)}
            )
    return ApiTask.objects.bulk_create(
        ApiTask(
            generation=generation,
            key=key,
            key_name=key.name,
            month=credits.month_start(timezone.localdate(generation.created_at)),
            callback_url=callback_url,
            base_url=base_url,
        )
        for generation in generations
    )


def _commit(key: ApiKey, month: date, amount: Decimal) -> bool:
    """Add `amount` to the key's month unless that passes its budget. The conditional
    UPDATE first (the month's row exists after the key's first submit of the month), the
    row's INSERT only when it found none; the UPDATE is what keeps concurrent submits
    within the budget."""

    def add() -> int:
        rows = ApiKeyMonth.objects.filter(key=key, month=month)
        if key.monthly_budget is not None:
            rows = rows.filter(committed__lte=key.monthly_budget - amount)
        return rows.update(committed=F("committed") + amount)

    if add():
        return True
    ApiKeyMonth.objects.bulk_create([ApiKeyMonth(key=key, month=month)], ignore_conflicts=True)
    return bool(add())


def hold_closed(generation_id: GenerationId, entry: CreditLedgerEntry | None) -> None:
    """A generation's hold was settled or released (`entry` is that ledger row, or None
    when this caller did not close it): move its key's month by what was charged instead
    of what was held. Inside the closing transaction, so it happens exactly once."""
    if entry is None:
        return
    task = ApiTask.objects.filter(generation_id=generation_id, key__isnull=False).first()
    if task is None:
        return
    difference = entry.charged + entry.held_delta  # the charge minus the hold
    if difference:
        ApiKeyMonth.objects.filter(key_id=task.key_id, month=task.month).update(
            committed=F("committed") + difference
        )


def committed_this_month(keys: Iterable[ApiKey], today: date | None = None) -> dict[Any, Decimal]:
    """Credits each key committed (held or spent) this month, by key id."""
    month = credits.month_start(today or timezone.localdate())
    rows = ApiKeyMonth.objects.filter(key__in=list(keys), month=month)
    return dict(rows.values_list("key_id", "committed"))


# --- Requests that carry a key -------------------------------------------------------------

# Set on views (by `generations.views.api.bearer_key_view`) that authenticate by key.
TAKES_API_KEY = "takes_api_key"


def takes_api_key(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return bool(getattr(match.func, TAKES_API_KEY, False))


class BearerKeyMiddleware:
    """On the API's routes, a request whose `Authorization: Bearer` names a usable key is
    its member's: `request.user` is the member and `request.api_key` the key.

    It runs before RequestSizeLimitMiddleware, so a request with a valid key may send what
    a signed-in member may (reference images as data: URIs, uploads for edits); one
    without a valid key keeps the anonymous limit and gets its 401 from the view. No other
    route looks at the header: a key never opens a web page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer " and takes_api_key(request.path_info):
            key = key_from_header(header)
            request.api_key = key  # type: ignore[attr-defined]
            if key is not None:
                request.user = key.user
        return self.get_response(request)
