"""Members' credits: holds, settlements, grants and limits.

Every function is one short transaction. Balances change only through conditional UPDATEs
with F() arithmetic whose row count is checked, never read-modify-write in Python. Every
change writes one ledger row with a unique idempotency key, and the move of a generation's
credits out of "held" is itself a conditional UPDATE on the generation, so a settlement or
release happens exactly once however many webhooks, polls and reconcilers race for it.

Lock order, everywhere: the member's CreditAccount row, then the team's TeamMonth row.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from generations import catalogue, prepared, quota
from generations.models import CreditAccount, CreditLedgerEntry, Generation, ModelPrice, TeamMonth
from generations.models import TeamSettings as TeamSettingsModel
from generations.models.generations import GenerationId
from generations.refusals import CreditError, LimitReached, TeamCapReached

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")
# Reasons we write are stored in English, the catalogue's source, so that every reader sees
# them in their own language (reason_in_language); an admin's own words stay as written.
ALLOWANCE_REASON = gettext_noop("Monthly allowance for %(month)s")
_ALLOWANCE_MONTH = re.compile(r"Monthly allowance for (\d{4}-\d{2})")
Kind = CreditLedgerEntry.Kind
CreditState = Generation.CreditState
NEAR_LIMIT_PERCENT = 80


def format_credits(amount: Decimal | float | str) -> str:
    """A credit amount for people, without trailing zeros and with the page's language's
    decimal mark: 0.5, 10, 1.25, 1250 (ungrouped in every language, as scripts and tests
    read it)."""
    text = f"{Decimal(amount):f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return number_format(Decimal(text), use_l10n=True)


class NotEnoughCredits(CreditError):
    def __init__(self, available: Decimal, needed: Decimal) -> None:
        self.available, self.needed = available, needed
        super().__init__(
            _("Not enough credits: %(available)s available, %(needed)s needed.")
            % {"available": format_credits(available), "needed": format_credits(needed)}
        )


# --- Prices --------------------------------------------------------------------------------


def price_of_choice(model: str, image_size: str | None = "") -> Decimal | None:
    """The price the compose form shows and the hold takes: None for a model not on offer."""
    if catalogue.get_model_option(model) is None:
        return None
    return price_for(model, catalogue.size_for(model, image_size))


def price_of_job(model: str, image_size: str | None, count: object = 1) -> Decimal | None:
    """What a submit of `count` images (catalogue.IMAGE_COUNTS; anything else counts as 1)
    holds in all."""
    try:
        images = int(str(count))
    except ValueError:
        images = 1
    images = images if images in catalogue.IMAGE_COUNTS else 1
    price = price_of_choice(model, image_size)
    return None if price is None else price * images


def price_for(model: str, image_size: str | None = "") -> Decimal:
    # The size's own price, else the model's: the model's few rows in one query.
    prices = dict(ModelPrice.objects.filter(model=model).values_list("image_size", "price"))
    return _price_from(model, image_size, prices)


def lowest_prices(models: Iterable[catalogue.ModelOption]) -> dict[str, Decimal]:
    """The lowest price of one image of each model (the composer's "from …"), by the same
    rule as price_for, with every model's price rows read in one query."""
    models = list(models)
    rows: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for model, size, price in ModelPrice.objects.filter(
        model__in=[m.id for m in models]
    ).values_list("model", "image_size", "price"):
        rows[model][size] = price
    return {
        m.id: min(_price_from(m.id, size, rows[m.id]) for size in (m.sizes or ("",)))
        for m in models
    }


def _price_from(model: str, image_size: str | None, prices: dict[str, Decimal]) -> Decimal:
    image_size = image_size or ""
    for size in dict.fromkeys([image_size, ""]):
        if size in prices:
            return prices[size]
    configured = settings.BANANA_PRICES.get(model, {})
    for size in dict.fromkeys([image_size, ""]):
        if size in configured:
            return Decimal(str(configured[size]))
    return settings.BANANA_DEFAULT_CREDIT_PRICE


# --- Accounts and the ledger ---------------------------------------------------------------


def account_for(user: User) -> CreditAccount:
    return CreditAccount.objects.get_or_create(user=user)[0]


def month_start(day: date) -> date:
    return day.replace(day=1)


def _write_ledger_entry(
    account_id: int,
    kind: CreditLedgerEntry.Kind,
    key: str,
    *,
    amount: Decimal = ZERO,
    held_delta: Decimal = ZERO,
    **fields: Any,
) -> CreditLedgerEntry:
    """The ledger row for a change just made to the account (inside the same transaction,
    so the balances read back are the ones this change produced)."""
    balance, held = CreditAccount.objects.filter(pk=account_id).values_list("balance", "held")[0]
    return CreditLedgerEntry.objects.create(
        account_id=account_id,
        kind=kind,
        amount=amount,
        held_delta=held_delta,
        balance_after=balance,
        held_after=held,
        idempotency_key=key,
        **fields,
    )


def _move(account_id: int, *, balance: Decimal = ZERO, held: Decimal = ZERO) -> int:
    return CreditAccount.objects.filter(pk=account_id).update(
        balance=F("balance") + balance, held=F("held") + held
    )


def _team_settings() -> TeamSettingsModel:
    return TeamSettingsModel.objects.filter(pk=1).first() or TeamSettingsModel(pk=1)


def _team_commit(month: date, amount: Decimal, *, cap: Decimal | None = None) -> bool:
    """Add to the team's committed credits for the month; refuses (returns False) when a
    cap is given and would be passed. One conditional UPDATE, so racing submits queue on
    the row and each sees the total the previous one left."""
    rows = TeamMonth.objects.filter(month=month)
    if cap is not None:
        rows = rows.filter(committed__lte=cap - amount)
    if rows.update(committed=F("committed") + amount):
        return True
    # The month's first commit (or a refusal): make sure the row exists, then try again.
    TeamMonth.objects.bulk_create([TeamMonth(month=month)], ignore_conflicts=True)
    return bool(rows.update(committed=F("committed") + amount))


def default_allowance() -> Decimal:
    team = _team_settings().default_monthly_allowance
    return settings.BANANA_DEFAULT_MONTHLY_ALLOWANCE if team is None else team


def allowance_of(account: CreditAccount) -> Decimal:
    if account.monthly_allowance is not None:
        return account.monthly_allowance
    return default_allowance()


def starting_credits() -> Decimal:
    """What a new member is granted when they come to exist: the team's setting, else the
    server's default."""
    team = _team_settings().starting_credits
    return settings.BANANA_STARTING_CREDITS if team is None else team


def grant_starting_credits(user: User) -> CreditLedgerEntry | None:
    """The team's starting grant, once per member whatever calls it (an idempotency key per
    member). None when nothing is granted: 0 credits, or granted already."""
    amount = starting_credits()
    if amount <= 0:
        return None
    return grant(user, amount, reason=gettext_noop("Starting credits"), key=f"starting:{user.pk}")


def renew_monthly_allowance(user: User, today: date | None = None) -> Decimal:
    """Credit this month's allowance once. Returns the amount credited (0 when nothing was)."""
    period = month_start(today or timezone.localdate())
    account = account_for(user)
    if account.allowance_period is not None and account.allowance_period >= period:
        return ZERO  # the common case, without taking a write lock
    amount = allowance_of(account)
    with transaction.atomic():
        renewed = (
            CreditAccount.objects.filter(pk=account.pk)
            .exclude(allowance_period__gte=period)
            .update(
                allowance_period=period,
                balance=F("balance") + (amount if amount > 0 else ZERO),
            )
        )
        if not renewed or amount <= 0:
            return ZERO
        _write_ledger_entry(
            account.pk,
            Kind.ALLOWANCE,
            f"allowance:{user.pk}:{period:%Y-%m}",
            amount=amount,
            reason=ALLOWANCE_REASON % {"month": f"{period:%Y-%m}"},
        )
    return amount


def grant(
    user: User,
    amount: Decimal | int | str,
    actor: User | None = None,
    reason: str = "",
    *,
    key: str | None = None,
) -> CreditLedgerEntry | None:
    """Add credits (a top-up). `key` makes a retried grant a no-op."""
    amount = Decimal(amount)
    if amount <= 0:
        raise ValueError("A grant must be positive; use adjust() to take credits away.")
    return _change(user, Kind.GRANT, amount, actor, reason, key)


def adjust(
    user: User,
    amount: Decimal | int | str,
    actor: User | None,
    reason: str,
    *,
    key: str | None = None,
) -> CreditLedgerEntry | None:
    """Correct a balance, up or down, with a written reason."""
    if not reason.strip():
        raise ValueError("An adjustment needs a reason.")
    return _change(user, Kind.ADJUSTMENT, Decimal(amount), actor, reason, key)


def _change(
    user: User,
    kind: CreditLedgerEntry.Kind,
    amount: Decimal,
    actor: User | None,
    reason: str,
    key: str | None,
) -> CreditLedgerEntry | None:
    account = account_for(user)
    key = key or f"{kind}:{account.pk}:{uuid.uuid4().hex}"
    with transaction.atomic():
        if CreditLedgerEntry.objects.filter(idempotency_key=key).exists():
            return None
        _move(account.pk, balance=amount)
        return _write_ledger_entry(account.pk, kind, key, amount=amount, actor=actor, reason=reason)


# --- Holds and their outcome ---------------------------------------------------------------


def _limits_of(account: Any) -> tuple[int, int]:
    """(max in flight, max per minute) for an account; 0 means no limit."""
    in_flight, per_minute = account.max_in_flight, account.max_per_minute
    return (
        settings.BANANA_DEFAULT_MAX_IN_FLIGHT if in_flight is None else in_flight,
        settings.BANANA_DEFAULT_MAX_PER_MINUTE if per_minute is None else per_minute,
    )


def _count_of(generations: Any) -> Coalesce:
    return Coalesce(
        Subquery(
            generations.order_by().values("owner").annotate(n=Count("pk")).values("n"),
            output_field=IntegerField(),
        ),
        0,
    )


def _account_for_hold(user: User, now: datetime) -> Any:
    """The member's account as the hold sees it, with what its checks need (their
    generations in flight and of the last minute, their storage, the team's cap) in one
    query. Read after the account row is locked: under READ COMMITTED each statement sees
    what the submits queued before this one committed."""
    mine = Generation.objects.filter(owner=OuterRef("user_id"))
    team = TeamSettingsModel.objects.filter(pk=1)
    return (
        CreditAccount.objects.filter(user=user)
        .annotate(
            in_flight=_count_of(mine.in_flight()),
            recent=_count_of(mine.filter(created_at__gte=now - timedelta(minutes=1))),
            storage_used=Coalesce(quota.used_subquery(OuterRef("user_id")), 0),
            team_storage_mb=Subquery(team.values("default_storage_quota_mb")),
            team_cap=Subquery(team.values("monthly_team_cap")),
        )
        .first()
    )


def _check_limits(account: Any, adding: int) -> None:
    """Refuse what would take the member past their storage, in-flight or per-minute
    limits, in that order."""
    usage = quota.Usage(
        used=account.storage_used,
        quota=quota.quota_of(account, quota.team_default_of(account.team_storage_mb)),
    )
    if usage.full:
        raise quota.StorageFull(usage)
    max_in_flight, per_minute = _limits_of(account)
    if max_in_flight and account.in_flight + adding > max_in_flight:
        raise LimitReached(
            _(
                "You already have %(count)s generations in progress. "
                "Wait for one to finish, then submit again."
            )
            % {"count": max_in_flight}
        )
    if per_minute and account.recent + adding > per_minute:
        raise LimitReached(
            _("You may submit %(count)s generations per minute. Wait a moment, then retry.")
            % {"count": per_minute}
        )


def place_holds(
    user: User, generations: Sequence[Generation], amount: Decimal | int | str
) -> list[CreditLedgerEntry]:
    """Hold `amount` of the member's credits for each of the generations being created
    (not yet saved: this sets their hold, and the caller inserts them), inside the caller's
    transaction; raises a CreditError (the caller rolls back) when refused.

    The common case is four statements: the conditional UPDATE that takes the credits (and
    the account's row lock, which queues a member's concurrent submits), one read of what
    the limits need, the team month's conditional UPDATE, and the ledger rows.
    """
    assert transaction.get_connection().in_atomic_block, "a hold lives in its submit's transaction"
    amount = Decimal(amount)
    total = amount * len(generations)
    now = timezone.now()
    period = month_start(timezone.localdate(now))

    def take() -> int:
        # Only once this month's allowance is credited: otherwise renew it first, below.
        return CreditAccount.objects.filter(
            user=user, balance__gte=total, allowance_period__gte=period
        ).update(balance=F("balance") - total, held=F("held") + total)

    held = take()
    if not held:
        renew_monthly_allowance(user, timezone.localdate(now))
        held = take()
    account = _account_for_hold(user, now)
    _check_limits(account, len(generations))
    if not held:
        raise NotEnoughCredits(account.balance, total)
    months: dict[date, Decimal] = defaultdict(Decimal)
    for generation in generations:
        generation.hold_amount, generation.credit_state = amount, CreditState.HELD
        months[month_start(timezone.localdate(generation.created_at))] += amount
    cap = account.team_cap
    for month, committed in months.items():
        if not _team_commit(month, committed, cap=cap):
            assert cap is not None  # without a cap the commit always succeeds
            raise TeamCapReached(
                _(
                    "The team has used its credits for this month (cap: %(cap)s). "
                    "Submissions are paused for everyone until an admin raises the cap."
                )
                % {"cap": format_credits(cap)}
            )
    # The balances after each hold in turn, from those after all of them.
    later = len(generations) - 1
    entries = CreditLedgerEntry.objects.bulk_create(
        CreditLedgerEntry(
            account_id=account.pk,
            kind=Kind.HOLD,
            amount=-amount,
            held_delta=amount,
            balance_after=account.balance + amount * (later - i),
            held_after=account.held - amount * (later - i),
            idempotency_key=f"hold:{generation.pk}",
            generation=generation,
        )
        for i, generation in enumerate(generations)
    )
    for generation, entry in zip(generations, entries, strict=True):
        generation.hold_entry = entry
    return entries


def _finish_hold(
    generation_id: GenerationId, new_state: Generation.CreditState, **fields: Any
) -> bool:
    """Claim a held generation's credits for one outcome: True for exactly one caller."""
    return bool(
        Generation.objects.filter(pk=generation_id, credit_state=CreditState.HELD).update(
            credit_state=new_state, **fields
        )
    )


def _held(generation_id: GenerationId) -> tuple[int, Decimal | None, datetime] | None:
    return (
        Generation.objects.filter(pk=generation_id)
        .values_list("owner__credit_account", "hold_amount", "created_at")
        .first()
    )


def _close_hold(
    generation: Generation | GenerationId,
    kind: CreditLedgerEntry.Kind,
    state: Generation.CreditState,
    *,
    consumed: Decimal | int | str | None,
    reason: Callable[[Decimal, Decimal], str],
) -> CreditLedgerEntry | None:
    """Move a generation's hold out of "held", exactly once: charge `consumed` (the hold
    when None) and give the rest back. No-op (None) without a hold, or once closed."""
    generation_id = generation.pk if isinstance(generation, Generation) else generation
    with transaction.atomic():
        row = _held(generation_id)
        if row is None:
            return None
        account_id, hold, created_at = row
        if hold is None:
            return None
        charge = hold if consumed is None else Decimal(consumed)
        if not _finish_hold(generation_id, state, credits_charged=charge, over_hold=charge > hold):
            return None
        _move(account_id, balance=hold - charge, held=-hold)
        _team_commit(month_start(timezone.localdate(created_at)), charge - hold)
        return _write_ledger_entry(
            account_id,
            kind,
            f"{kind}:{generation_id}",
            amount=hold - charge,
            held_delta=-hold,
            generation_id=generation_id,
            reason=reason(charge, hold)[:500],
        )


def settle(
    generation: Generation | GenerationId,
    consumed: Decimal | int | str | None = None,
    reason: str = "",
) -> CreditLedgerEntry | None:
    """Charge what the upstream consumed (the hold when it did not say), returning the rest.

    A charge above the hold is still charged in full, and flagged for admins.
    """

    def why(charge: Decimal, hold: Decimal) -> str:
        if reason:
            return reason
        return (
            gettext_noop("Charged more than held")
            if charge > hold
            else gettext_noop("Generation finished")
        )

    return _close_hold(generation, Kind.SETTLE, CreditState.SETTLED, consumed=consumed, reason=why)


def release(generation: Generation | GenerationId, reason: str = "") -> CreditLedgerEntry | None:
    """Give a hold back in full: the generation failed or was never made."""
    return _close_hold(
        generation,
        Kind.RELEASE,
        CreditState.RELEASED,
        consumed=ZERO,
        reason=lambda _charge, _hold: reason,
    )


# --- What members see ----------------------------------------------------------------------


def reason_in_language(reason: str) -> str:
    """A ledger reason in the active language (see ALLOWANCE_REASON)."""
    month = _ALLOWANCE_MONTH.fullmatch(reason)
    if month:
        return _(ALLOWANCE_REASON) % {"month": month[1]}
    return _(reason) if reason else ""


@dataclass(frozen=True)
class Balances:
    """The header's figures: credits available and held."""

    available: Decimal
    held: Decimal


def with_balances_of(queryset: Any, user: User) -> Any:
    """Rows of any query, annotated with the member's credits (`credits_available`,
    `credits_held`): the header's figures, read by a query that runs anyway."""
    account = CreditAccount.objects.filter(user=user)
    return queryset.annotate(
        credits_available=Subquery(account.values("balance")),
        credits_held=Subquery(account.values("held")),
    )


def balances_of_row(row: Any) -> Balances:
    return Balances(available=row.credits_available or ZERO, held=row.credits_held or ZERO)


def balances_after_holds(generations: Sequence[Generation]) -> Balances:
    """The member's balances as the holds of a submit just left them (no query)."""
    entry = generations[-1].hold_entry
    assert entry is not None and entry.balance_after is not None and entry.held_after is not None
    return Balances(available=entry.balance_after, held=entry.held_after)


@dataclass(frozen=True)
class Summary:
    available: Decimal
    held: Decimal
    spent_this_month: Decimal
    allowance: Decimal
    percent_used: int | None

    @property
    def near_limit(self) -> bool:
        return self.percent_used is not None and self.percent_used >= NEAR_LIMIT_PERCENT


def spent_between(
    account_ids: Iterable[int], start: datetime, end: datetime | None = None
) -> dict[int, Decimal]:
    """Credits charged by settlements in [start, end), per account id."""
    entries = CreditLedgerEntry.objects.filter(
        account_id__in=account_ids, kind=Kind.SETTLE, created_at__gte=start
    )
    if end is not None:
        entries = entries.filter(created_at__lt=end)
    totals = entries.values("account_id").annotate(total=Sum(F("amount") + F("held_delta")))
    return {row["account_id"]: -row["total"] for row in totals}


def month_start_datetime(today: date | None = None) -> datetime:
    first = month_start(today or timezone.localdate())
    return timezone.make_aware(datetime(first.year, first.month, 1))


def percent_used(spent: Decimal | int, allowance: Decimal | None) -> int | None:
    if not allowance or allowance <= 0:
        return None
    return int(spent * 100 / allowance)


def summary_for(user: User, today: date | None = None) -> Summary:
    """The member's credits for the header of every page: one query (two, and the
    allowance credited, on the first page of a month)."""
    period = month_start(today or timezone.localdate())
    account = _account_with_month(user, month_start_datetime(today))
    if account is None or account.allowance_period is None or account.allowance_period < period:
        renew_monthly_allowance(user, today)
        account = _account_with_month(user, month_start_datetime(today))
        assert account is not None  # renew_monthly_allowance made it
    spent = -(account.month_settled or ZERO)
    if account.monthly_allowance is not None:
        allowance = account.monthly_allowance
    elif account.team_allowance is not None:
        allowance = account.team_allowance
    else:
        allowance = settings.BANANA_DEFAULT_MONTHLY_ALLOWANCE
    return Summary(
        available=account.balance,
        held=account.held,
        spent_this_month=spent,
        allowance=allowance,
        percent_used=percent_used(spent, allowance),
    )


@dataclass(frozen=True)
class _AccountMonth:
    balance: Decimal
    held: Decimal
    monthly_allowance: Decimal | None
    allowance_period: date | None
    month_settled: Decimal | None
    team_allowance: Decimal | None


def _account_with_month(user: User, start: datetime) -> _AccountMonth | None:
    """The member's account with this month's settlements (negative: what was charged) and
    the team's default allowance, in one query, prepared: it runs on every page."""
    rows = _ACCOUNT_MONTH.rows((), user=user.pk, start=start)
    if not rows:
        return None
    account = _AccountMonth(*rows[0])
    if account.month_settled is None:
        return account
    # SQLite sums decimals in floating point: back to the ledger's own precision.
    return replace(account, month_settled=account.month_settled.quantize(_LEDGER_PRECISION))


_LEDGER_PRECISION = Decimal(1).scaleb(-CreditLedgerEntry._meta.get_field("amount").decimal_places)


def _account_month_query(shape: object, user: int, start: datetime) -> Any:
    settled = (
        CreditLedgerEntry.objects.filter(
            account=OuterRef("pk"), kind=Kind.SETTLE, created_at__gte=start
        )
        .order_by()
        .values("account")
        .annotate(total=Sum(F("amount") + F("held_delta")))
        .values("total")
    )
    team = TeamSettingsModel.objects.filter(pk=1).values("default_monthly_allowance")
    return (
        CreditAccount.objects.filter(user=user)
        .annotate(month_settled=Subquery(settled), team_allowance=Subquery(team))
        .values_list(*(field.name for field in fields(_AccountMonth)))
    )


_ACCOUNT_MONTH = prepared.Read(
    CreditAccount,
    _account_month_query,
    user=CreditAccount._meta.get_field("user"),
    start=CreditLedgerEntry._meta.get_field("created_at"),
)


def limit_states(accounts: Iterable[CreditAccount]) -> dict[int, str]:
    """{account id: "at" | "near" | ""}: who is at or near their limit this month (at: less
    than the cheapest image left, or the whole allowance spent)."""
    accounts = list(accounts)
    spent = spent_between([a.pk for a in accounts], month_start_datetime())
    states = {}
    for account in accounts:
        percent = percent_used(spent.get(account.pk, ZERO), allowance_of(account)) or 0
        if account.balance < settings.BANANA_DEFAULT_CREDIT_PRICE or percent >= 100:
            states[account.pk] = "at"
        elif percent >= NEAR_LIMIT_PERCENT:
            states[account.pk] = "near"
        else:
            states[account.pk] = ""
    return states
