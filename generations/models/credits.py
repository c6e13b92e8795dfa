"""Credits: one account per member, an append-only ledger, prices and the team's cap.

Balances only ever change through conditional UPDATEs with F() arithmetic
(generations/credits.py); the ledger explains every change and is never rewritten.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, overload

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

ZERO = Decimal("0")


# Typed so that the type checker knows a credit field holds a Decimal (or None, if nullable).
@overload
def credit_field(
    verbose_name: StrOrPromise, *, null: Literal[True], **extra: Any
) -> models.DecimalField[Any, Decimal | None]: ...
@overload
def credit_field(verbose_name: StrOrPromise, **extra: Any) -> models.DecimalField[Any, Decimal]: ...
def credit_field(verbose_name: StrOrPromise, **extra: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(verbose_name, max_digits=12, decimal_places=6, **extra)


class CreditAccount(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="credit_account",
        verbose_name=_("user"),
    )
    balance = credit_field(_("available"), default=ZERO)
    held = credit_field(_("on hold"), default=ZERO)
    monthly_allowance = credit_field(
        _("monthly allowance"),
        null=True,
        blank=True,
        help_text=_("Empty: the team default."),
    )
    allowance_period = models.DateField(
        _("allowance renewed for"), null=True, blank=True, editable=False
    )
    max_in_flight = models.PositiveIntegerField(
        _("max generations in flight"), null=True, blank=True, help_text=_("Empty: the default.")
    )
    max_per_minute = models.PositiveIntegerField(
        _("max submissions per minute"),
        null=True,
        blank=True,
        help_text=_("Empty: the default."),
    )
    storage_quota_mb = models.PositiveIntegerField(
        _("storage quota (MB)"),
        null=True,
        blank=True,
        help_text=_("Empty: the team default. 0: no limit."),
    )

    class Meta:
        verbose_name = _("credit account")
        verbose_name_plural = _("credit accounts")

    def __str__(self):
        return str(self.user)


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The credit ledger is append-only.")

    def delete(self):
        raise TypeError("The credit ledger is append-only.")

    def bulk_update(self, *args, **kwargs):
        raise TypeError("The credit ledger is append-only.")


class CreditLedgerEntry(models.Model):
    """One movement of credits. `amount` is the change to the member's available credits,
    `held_delta` the change to their held credits: the sums over an account equal its
    balance and its held credits."""

    class Kind(models.TextChoices):
        GRANT = "grant", _("Grant")
        ALLOWANCE = "allowance", _("Monthly allowance")
        HOLD = "hold", _("Hold")
        SETTLE = "settle", _("Settle")
        RELEASE = "release", _("Release")
        ADJUSTMENT = "adjustment", _("Adjustment")

    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account")
    )
    # No database constraint: the ledger outlives a deleted generation and keeps its id.
    generation = models.ForeignKey(
        "generations.Generation",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="ledger_entries",
        verbose_name=_("generation"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    amount = credit_field(_("available change"))
    held_delta = credit_field(_("held change"), default=ZERO)
    balance_after = credit_field(_("available after"), null=True, blank=True)
    held_after = credit_field(_("held after"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("caused by"),
    )
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [models.Index(fields=["account", "-created_at"])]

    def __str__(self):
        return self.idempotency_key

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The credit ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The credit ledger is append-only.")

    @property
    def charged(self):
        """What a settlement cost the member (the hold returned, the charge taken)."""
        return -(self.amount + self.held_delta)


class TeamSettings(models.Model):
    """A single row: the team's cap and default allowance, editable by admins."""

    monthly_team_cap = credit_field(
        _("monthly team cap"),
        null=True,
        blank=True,
        help_text=_("Empty: no cap. Credits held or spent by the whole team in a month."),
    )
    default_monthly_allowance = credit_field(
        _("default monthly allowance"),
        null=True,
        blank=True,
        help_text=_("Empty: the value from the server's settings."),
    )
    default_storage_quota_mb = models.PositiveIntegerField(
        _("default storage quota (MB)"),
        null=True,
        blank=True,
        help_text=_("Per member. Empty: the value from the server's settings. 0: no limit."),
    )
    starting_credits = credit_field(
        _("starting credits for new members"),
        null=True,
        blank=True,
        help_text=_(
            "Granted once to every new member, however they join. "
            "Empty: the value from the server's settings. 0: none."
        ),
    )

    members_make_team_presets = models.BooleanField(
        _("members may make team presets"),
        default=False,
        help_text=_("Off: only admins make, change and delete the team's style presets."),
    )

    class Meta:
        verbose_name = _("team settings")
        verbose_name_plural = _("team settings")

    def __str__(self):
        return str(_("team settings"))

    @classmethod
    def current(cls):
        return cls.objects.get_or_create(pk=1)[0]


class TeamMonth(models.Model):
    """The team's committed credits (held + spent) in one month: the cap's counter."""

    month = models.DateField(unique=True, verbose_name=_("month"))
    committed = credit_field(_("committed"), default=ZERO)

    class Meta:
        verbose_name = _("team month")
        verbose_name_plural = _("team months")

    def __str__(self):
        return self.month.strftime("%Y-%m")


class ModelPrice(models.Model):
    """The price of one generation of a model (and image size, where it matters)."""

    model = models.CharField(_("model"), max_length=100)
    image_size = models.CharField(
        _("image size"), max_length=4, blank=True, help_text=_("Empty: any size.")
    )
    price = credit_field(_("price"))

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["model", "image_size"]
        constraints = [
            models.UniqueConstraint(fields=["model", "image_size"], name="unique_model_price"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="price_not_negative"),
        ]

    def __str__(self):
        return f"{self.model} {self.image_size or '*'}: {self.price}"
