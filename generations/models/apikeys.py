"""Personal API keys, what they spent this month, the generations they made, and the
signed callbacks delivered to their owners' URLs (generations/api/keys.py, api/callbacks.py)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from generations.models.credits import ZERO, credit_field


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def usable(self) -> ApiKeyQuerySet:
        """Not revoked, and their member may still sign in: active here, and not refused by
        the identity provider since their last sign-in there."""
        return self.filter(revoked_at__isnull=True, user__is_active=True).exclude(
            user__provider_identities__refused_at__isnull=False
        )


class ApiKey(models.Model):
    """A member's personal key. Only its SHA-256 is stored (the key is 256 random bits, so
    a slow hash would add nothing), and a short prefix to tell keys apart."""

    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False, verbose_name=_("ID")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("member"),
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("key starts with"), max_length=16, editable=False)
    key_hash = models.CharField(
        max_length=64, unique=True, editable=False, verbose_name=_("key hash")
    )
    # Signs the callbacks of this key's generations (Standard Webhooks: whsec_<base64>).
    signing_secret = models.CharField(
        max_length=100, editable=False, verbose_name=_("signing secret")
    )
    monthly_budget = credit_field(
        _("monthly budget"),
        null=True,
        blank=True,
        help_text=_("Credits this key may commit per month. Empty: no budget of its own."),
    )
    allowed_models = models.JSONField(
        _("allowed models"),
        default=list,
        blank=True,
        help_text=_("Empty: every model on offer."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("revoked by"),
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


class ApiKeyMonth(models.Model):
    """Credits a key committed (held or spent) in one month: its budget's counter, moved
    only by conditional UPDATEs in the transaction of the hold or its settlement."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="months")
    month = models.DateField()
    committed = credit_field(_("committed"), default=ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "month"], name="unique_api_key_month"),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} {self.month:%Y-%m}"


class ApiTask(models.Model):
    """A generation made through the API: which key made it, for which month's budget, and
    where its owner wants to hear that it is done."""

    generation = models.OneToOneField(
        "generations.Generation",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="api_task",
    )
    key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    # Kept with the generation: the history shows it even if an admin deletes the key.
    key_name = models.CharField(_("API key"), max_length=100)
    month = models.DateField()
    callback_url = models.URLField(max_length=2000, blank=True)
    # Where the client reached us, for result URLs when PUBLIC_BASE_URL is not set.
    base_url = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.generation_id} via {self.key_name}"


class CallbackDelivery(models.Model):
    """The callback of one generation to its owner's URL, signed per Standard Webhooks,
    retried with backoff for about a day. Its body is fixed when it is created, so every
    attempt sends the same message (with the same webhook-id)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Trying")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Gave up")
        CANCELLED = "cancelled", _("Cancelled (key revoked)")

    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False, verbose_name=_("ID")
    )
    generation = models.OneToOneField(
        "generations.Generation",
        on_delete=models.CASCADE,
        related_name="callback_delivery",
        verbose_name=_("generation"),
    )
    key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("key")
    )
    url = models.URLField(max_length=2000, verbose_name=_("url"))
    body = models.TextField(verbose_name=_("body"))
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING, verbose_name=_("state")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    last_status_code = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("last status code")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("callback delivery")
        verbose_name_plural = _("callback deliveries")
        indexes = [models.Index(fields=["key", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | ~Q(state="pending"),
                name="callback_finished_only_when_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.url}"

    @property
    def message_id(self) -> str:
        return f"msg_{self.pk.hex}"


class CallbackAttempt(models.Model):
    """One POST of a delivery: when, what the receiver answered (or why nothing came)."""

    delivery = models.ForeignKey(
        CallbackDelivery,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("delivery"),
    )
    number = models.PositiveSmallIntegerField(verbose_name=_("number"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))
    status_code = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("status code")
    )
    error = models.CharField(max_length=300, blank=True, verbose_name=_("error"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration (ms)"))

    class Meta:
        verbose_name = _("callback attempt")
        verbose_name_plural = _("callback attempts")
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="unique_callback_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
