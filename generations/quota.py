"""Each member's storage: what their images take, their quota, and the rule that holds it.

What counts: the files of a member's results that are still kept (original, display
variant, thumbnail) of generations not deleted. Uploaded references are not counted.

The rule: a member at or over their quota cannot submit (the studio says so, with the
numbers) until they delete images or an admin gives them more room. A generation already
sent is always stored in full, because its credits are spent: so a member may end up over
their quota by at most the results of the generations they had in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Case, F, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from generations.models import CreditAccount, ResultImage, TeamSettings
from generations.refusals import LimitReached

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models.expressions import CombinedExpression

MB = 1024 * 1024


def format_bytes(size: int) -> str:
    """A size for people: 512 B, 840 KB, 120 MB, 1.5 GB (powers of 1024)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{text.removesuffix('.0')} {unit}"


def _kept(field: str, size: str) -> Case:
    return Case(
        When(~Q(**{field: ""}), then=Coalesce(F(size), Value(0))),
        default=Value(0),
        output_field=IntegerField(),
    )


def _stored_bytes() -> CombinedExpression:
    """The bytes one ResultImage row keeps in storage now."""
    return (
        _kept("file", "byte_size")
        + _kept("display", "display_byte_size")
        + _kept("thumbnail", "thumbnail_byte_size")
    )


def _counted() -> Any:
    return ResultImage.objects.filter(generation__deleted_at__isnull=True)


def used_by(user: User) -> int:
    total = _counted().filter(generation__owner=user).aggregate(total=Sum(_stored_bytes()))
    return int(total["total"] or 0)


def used_subquery(owner: Any) -> Subquery:
    """The bytes a member uses, as a subquery for annotating rows that point at the member
    (`owner` is an OuterRef to a user id)."""
    per_owner = (
        _counted()
        .filter(generation__owner=owner)
        .order_by()
        .values("generation__owner")
        .annotate(total=Sum(_stored_bytes()))
        .values("total")
    )
    return Subquery(per_owner, output_field=IntegerField())


def team_default() -> int | None:
    """Bytes each member may keep unless set for them; None: no limit."""
    row = TeamSettings.objects.filter(pk=1).values_list("default_storage_quota_mb", flat=True)
    return team_default_of(row.first())


def team_default_of(configured_mb: int | None) -> int | None:
    """The team default in bytes (None: no limit) from the team's setting in MB."""
    size = configured_mb * MB if configured_mb is not None else settings.BANANA_STORAGE_QUOTA
    return size or None


_UNREAD = object()


def quota_of(account: CreditAccount | None, default: Any = _UNREAD) -> int | None:
    """A member's quota in bytes (None: no limit): their own, else the team's `default`
    (read when not given)."""
    if account is not None and account.storage_quota_mb is not None:
        return account.storage_quota_mb * MB or None
    return team_default() if default is _UNREAD else default


@dataclass(frozen=True)
class Usage:
    used: int
    quota: int | None

    @property
    def full(self) -> bool:
        return self.quota is not None and self.used >= self.quota

    @property
    def percent(self) -> int | None:
        if self.quota is None:
            return None
        return min(100 * self.used // self.quota, 999)

    @property
    def amounts(self) -> str:
        """120 MB of 1 GB; 120 MB (no limit)."""
        if self.quota is None:
            return _("%(used)s (no limit)") % {"used": format_bytes(self.used)}
        return _("%(used)s of %(quota)s") % {
            "used": format_bytes(self.used),
            "quota": format_bytes(self.quota),
        }

    def __str__(self) -> str:
        return _("Storage: %(amounts)s") % {"amounts": self.amounts}


def usage_of(user: User) -> Usage:
    account = CreditAccount.objects.filter(user=user).first()
    return Usage(used=used_by(user), quota=quota_of(account))


class StorageFull(LimitReached):
    """A submit refused because the member's images fill their storage quota (checked by
    credits.place_holds, in the read its other limits take)."""

    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        super().__init__(
            _(
                "Your storage is full (%(used)s of %(quota)s). Delete images you no longer "
                "need, or ask an admin for more room, then submit again."
            )
            % {"used": format_bytes(usage.used), "quota": format_bytes(usage.quota or 0)}
        )


def annotate_usage(queryset: Any, owner_field: str = "user_id") -> Any:
    """Credit accounts (or rows with `owner_field`) with `storage_used` (bytes) and
    `team_storage_quota` (the team default in bytes, 0 for none) for `usage_of_row`."""
    return queryset.annotate(
        storage_used=Coalesce(used_subquery(OuterRef(owner_field)), 0),
        team_storage_quota=Value(team_default() or 0, output_field=IntegerField()),
    )


def usage_of_row(account: Any) -> Usage:
    """The Usage of a credit account annotated by `annotate_usage`."""
    return Usage(
        used=account.storage_used, quota=quota_of(account, account.team_storage_quota or None)
    )
