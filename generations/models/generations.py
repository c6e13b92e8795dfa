from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from generations.models.credits import CreditLedgerEntry

# The text-search configuration of the PostgreSQL index (the migration that builds the
# index and trigger uses the same one), and SQLite's FTS5 table.
SEARCH_CONFIG = "english"
SQLITE_SEARCH_TABLE = "generations_generation_search"
SEARCH_BY_ID_LIMIT = 2000

# A generation's primary key, as a UUID or as the string a task or a URL carries.
type GenerationId = uuid.UUID | str


def new_secret() -> str:
    """A webhook secret: 256 bits from a CSPRNG; only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def default_visibility():
    return settings.BANANA_DEFAULT_VISIBILITY


class GenerationQuerySet(models.QuerySet["Generation"]):
    def alive(self) -> GenerationQuerySet:
        return self.filter(deleted_at__isnull=True)

    def visible_to(self, user: User | AnonymousUser) -> GenerationQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self.alive()
        return self.alive().filter(Q(owner=user) | Q(visibility=Generation.Visibility.TEAM))

    def reusable_by(self, user: User | AnonymousUser) -> GenerationQuerySet:
        """What a member may take into a new image of theirs (edit, remix, use as reference,
        keep in the library): their own and the team's. Never another's private image,
        though staff see it: the copy would show it to whoever sees the new one."""
        if not user.is_authenticated:
            return self.none()
        return self.alive().filter(Q(owner=user) | Q(visibility=Generation.Visibility.TEAM))

    def search(self, text):
        """Prompts matching the words, through an index on both databases: PostgreSQL's
        full-text search on a stored tsvector (kept by a trigger, GIN-indexed), SQLite's
        FTS5 table (kept by triggers). Both stem English words ("bananas" finds "banana")."""
        text = (text or "").strip()
        if not text:
            return self
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery

            query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
            # The planner cannot know how rare a word is, and for a rare one it may walk the
            # whole created_at index filtering row by row. So ask the GIN index first, bounded:
            # few matches are named by id; many are dense enough for the ordered walk.
            matches = list(
                Generation.objects.filter(prompt_search=query)
                .order_by()
                .values_list("pk", flat=True)[: SEARCH_BY_ID_LIMIT + 1]
            )
            if len(matches) <= SEARCH_BY_ID_LIMIT:
                return self.filter(pk__in=matches)
            return self.filter(prompt_search=query)
        words = re.findall(r"\w+", text)
        if not words:
            return self.none()
        # Each word a quoted FTS5 string (\w+ holds no quote): nothing typed is FTS5 syntax,
        # and the text travels as a bound parameter.
        match = " ".join(f'"{word}"' for word in words)
        return self.filter(
            pk__in=RawSQL(  # noqa: S611
                f"SELECT g.id FROM {Generation._meta.db_table} g "  # noqa: S608
                f"JOIN {SQLITE_SEARCH_TABLE} s ON s.rowid = g.rowid "
                f"WHERE {SQLITE_SEARCH_TABLE} MATCH %s",
                [match],
            )
        )

    def in_flight(self) -> GenerationQuerySet:
        return self.filter(status__in=Generation.IN_FLIGHT)


class Generation(models.Model):
    class Status(models.TextChoices):
        # Ours: the row exists but the upstream has not (knowingly) got it yet.
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        UNKNOWN = "unknown", _("Waiting for the upstream")
        # The upstream's, with the same meaning.
        PENDING = "pending", _("Pending")
        SUBMITTED = "submitted", _("Submitted")
        IN_PROGRESS = "in_progress", _("Generating")
        SUCCESS = "success", _("Done")
        FAILED = "failed", _("Failed")

        @classmethod
        def from_upstream(cls, upstream_status: str) -> Generation.Status:
            """Ours for the upstream's (normalised) status, which ours mirror value for
            value; an unknown one is not final."""
            mirrored = {cls.PENDING, cls.SUBMITTED, cls.IN_PROGRESS, cls.SUCCESS, cls.FAILED}
            return cls(upstream_status) if upstream_status in mirrored else cls.SUBMITTED

    class Visibility(models.TextChoices):
        TEAM = "team", _("The whole team")
        PRIVATE = "private", _("Only me")

    FINAL = frozenset({Status.SUCCESS, Status.FAILED})
    # A cancel ends a generation as failed without a task (the upstream never knew of it);
    # this message tells it apart, so it reads "Cancelled" rather than as an error.
    CANCELLED_MESSAGE = gettext_noop("Cancelled before it was sent.")
    IN_FLIGHT = frozenset(set(Status) - FINAL)
    # Order of life, so that a late, stale answer never moves a row backwards.
    STATUS_RANK = {
        Status.QUEUED: 0,
        Status.SENDING: 1,
        Status.UNKNOWN: 1,
        Status.PENDING: 2,
        Status.SUBMITTED: 3,
        Status.IN_PROGRESS: 4,
        Status.SUCCESS: 5,
        Status.FAILED: 5,
    }

    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False, verbose_name=_("ID")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="generations",
        verbose_name=_("owner"),
    )
    model = models.CharField(_("model"), max_length=100)
    prompt = models.TextField(_("prompt"))
    aspect_ratio = models.CharField(_("aspect ratio"), max_length=10, blank=True)
    image_size = models.CharField(_("image size"), max_length=4, blank=True)
    # The images of one submit share a job: each is its own upstream task with its own hold,
    # shown together as one card in the studio. Set on every new row (older rows: its id).
    job_id = models.UUIDField(_("job"), null=True, blank=True, db_index=True, editable=False)
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        verbose_name=_("retry of"),
    )
    visibility = models.CharField(
        _("visible to"), max_length=10, choices=Visibility.choices, default=default_visibility
    )
    # A style preset wraps the member's words: `prompt` is what was sent, `member_prompt`
    # the words typed (empty without a preset), `preset_name` the preset's name then.
    preset = models.ForeignKey(
        "generations.StylePreset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
        verbose_name=_("style preset"),
    )
    preset_name = models.CharField(_("style preset name"), max_length=100, blank=True)
    member_prompt = models.TextField(_("member's words"), blank=True)
    # An edit thread (generations/threads.py): the version this one was made from (its
    # image is this one's first reference, copied, so removing it breaks nothing) and the
    # thread all versions share, the first version's id (kept when a version is removed).
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="edits",
        verbose_name=_("edit of"),
    )
    thread_id = models.UUIDField(_("edit thread"), null=True, blank=True, db_index=True)
    # Soft delete: the row stays for the ledger, its files are removed.
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)

    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    upstream_task_id = models.CharField(
        _("upstream task id"), max_length=100, null=True, blank=True, unique=True
    )
    upstream_status = models.CharField(_("upstream status"), max_length=50, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    credits_consumed = models.DecimalField(
        _("credits consumed"), max_digits=12, decimal_places=6, null=True, blank=True
    )
    # Set when the row is sent upstream; empty until then (it matches no secret).
    # PostgreSQL only: kept from the prompt by a trigger, GIN-indexed (migration 0006).
    prompt_search = SearchVectorField(null=True, editable=False, verbose_name=_("prompt search"))
    webhook_secret_hash = models.CharField(
        max_length=64, editable=False, blank=True, verbose_name=_("webhook secret hash")
    )

    class CreditState(models.TextChoices):
        NONE = "", _("No hold")
        HELD = "held", _("On hold")
        SETTLED = "settled", _("Settled")
        RELEASED = "released", _("Released")

    # Written only by generations/credits.py, with conditional UPDATEs.
    hold_amount = models.DecimalField(
        _("credits held"), max_digits=12, decimal_places=6, null=True, blank=True
    )
    credits_charged = models.DecimalField(
        _("credits charged"), max_digits=12, decimal_places=6, null=True, blank=True
    )
    credit_state = models.CharField(
        _("credits"), max_length=10, choices=CreditState.choices, default="", blank=True
    )
    over_hold = models.BooleanField(_("charged more than held"), default=False)
    # Given up after a submit whose answer was lost: the provider may have charged the team.
    outcome_unknown = models.BooleanField(_("may have been charged by the provider"), default=False)

    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    submitted_at = models.DateTimeField(_("sent upstream"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last checked at"))
    # A refresh (one upstream query) is in flight until it has run or this time has passed
    # (its worker died): nobody claims a second one meanwhile (services.claim_check).
    refresh_claimed_until = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("refresh claimed until")
    )

    objects = GenerationQuerySet.as_manager()
    # Set on the rows a submit creates (credits.place_holds): the ledger row of the hold.
    hold_entry: CreditLedgerEntry | None = None
    # Set on a page's cards by threads.label_cards: "v3 of 5", as the viewer sees the thread.
    thread_number: int = 0
    thread_size: int = 0

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("generation")
        verbose_name_plural = _("generations")
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(status__in=["success", "failed"]),
                name="generation_finished_only_when_final",
            ),
        ]

    def __str__(self):
        return f"{self.model}: {self.prompt[:40]}"

    @property
    def job_key(self):
        return self.job_id or self.pk

    @property
    def is_cancellable(self) -> bool:
        """Not yet sent upstream: it may still be called off, its hold given back."""
        return self.status == self.Status.QUEUED

    @property
    def charged_without_image(self) -> bool:
        """Failed, yet the provider charged for it (it answered with text, say)."""
        return bool(self.is_failed and self.credits_charged and self.credits_charged > 0)

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    def is_manageable_by(self, user):
        """Its owner and admins may share, hide or delete it."""
        return user.is_authenticated and (user.is_staff or self.owner_id == user.pk)

    @property
    def is_success(self):
        return self.status == self.Status.SUCCESS

    @property
    def is_failed(self):
        return self.status == self.Status.FAILED

    @property
    def is_cancelled(self):
        return self.is_failed and self.error_message == self.CANCELLED_MESSAGE

    @property
    def is_private(self):
        return self.visibility == self.Visibility.PRIVATE

    @property
    def has_credit_hold(self):
        """Credits are held for it: not yet charged, not yet released."""
        return self.credit_state == self.CreditState.HELD

    @property
    def needs_polling(self):
        """Still changing: not final, or final with results still being copied to us."""
        if not self.is_final:
            return True
        return any(r.state == ResultImage.State.WAITING for r in self.results.all())

    @property
    def poll_token(self) -> str:
        """Changes whenever the card would look different: its status and the state of
        each result (the one poll of a page sends it back, and gets only changed cards)."""
        return self.status + "".join(r.state[0] for r in self.results.all())

    @property
    def elapsed(self):
        end = self.finished_at or timezone.now()
        return end - self.created_at

    def webhook_secret_matches(self, secret):
        if not self.webhook_secret_hash:
            return False
        return hmac.compare_digest(self.webhook_secret_hash, hash_secret(secret or ""))


def reference_upload_path(instance, filename):
    extension = filename.rsplit(".", 1)[-1]
    return f"references/{instance.generation_id}/{instance.position}-{uuid.uuid4().hex}.{extension}"


def result_upload_path(instance: ResultImage, filename: str) -> str:
    return f"results/{instance.generation_id}/{filename}"


class ReferenceImage(models.Model):
    """An input image: an uploaded file we keep, or a URL the member gave us."""

    generation = models.ForeignKey(
        Generation,
        on_delete=models.CASCADE,
        related_name="references",
        verbose_name=_("generation"),
    )
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    source_url = models.URLField(max_length=2000, blank=True, verbose_name=_("source URL"))
    file = models.FileField(upload_to=reference_upload_path, blank=True, verbose_name=_("file"))
    content_type = models.CharField(max_length=50, blank=True, verbose_name=_("content type"))
    width = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("width"))
    height = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("height"))
    # A library asset's reference shares the asset's file (generations/library.py).
    library_asset = models.ForeignKey(
        "generations.LibraryAsset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="references",
        verbose_name=_("library asset"),
    )

    class Meta:
        verbose_name = _("reference image")
        verbose_name_plural = _("reference images")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "position"], name="unique_reference_slot"
            ),
            models.CheckConstraint(
                condition=~Q(source_url="") | ~Q(file=""), name="reference_has_source"
            ),
        ]

    def __str__(self):
        return self.source_url or self.file.name


class ResultImage(models.Model):
    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting to be stored")
        STORED = "stored", _("Stored")
        FAILED = "failed", _("Could not be stored")

    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="results", verbose_name=_("generation")
    )
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    # The upstream's link (or data URI); cleared once stored, since links expire anyway.
    source = models.TextField(blank=True, verbose_name=_("source"))
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.WAITING, verbose_name=_("state")
    )
    error_message = models.CharField(max_length=300, blank=True, verbose_name=_("error message"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    # Names carry two ids and a content hash: longer than FileField's default 100.
    file = models.FileField(
        upload_to=result_upload_path, blank=True, max_length=255, verbose_name=_("file")
    )
    content_type = models.CharField(max_length=50, blank=True, verbose_name=_("content type"))
    width = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("width"))
    height = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("height"))
    byte_size = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("byte size"))
    thumbnail = models.FileField(
        upload_to=result_upload_path, blank=True, max_length=255, verbose_name=_("thumbnail")
    )
    thumbnail_width = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("thumbnail width")
    )
    thumbnail_height = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("thumbnail height")
    )
    thumbnail_byte_size = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("thumbnail byte size")
    )
    # The size pages show (WebP, long side at most BANANA_DISPLAY_SIZE). Empty on rows
    # stored before it existed: the original stands in.
    display = models.FileField(
        upload_to=result_upload_path, blank=True, max_length=255, verbose_name=_("display")
    )
    display_width = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("display width")
    )
    display_height = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("display height")
    )
    display_byte_size = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("display byte size")
    )
    # Set when the retention policy removed the original (`file` is then empty); the
    # display variant and the thumbnail stay.
    original_removed_at = models.DateTimeField(_("original removed"), null=True, blank=True)

    class Meta:
        verbose_name = _("result image")
        verbose_name_plural = _("result images")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "position"], name="unique_result_slot"),
        ]

    def __str__(self):
        return f"{self.generation_id} #{self.position}"

    @property
    def is_stored(self):
        return self.state == self.State.STORED

    @property
    def is_failed(self):
        """It could not be copied to us: error_message says why."""
        return self.state == self.State.FAILED

    @property
    def shown_file(self):
        """The file a page shows at full width: the display variant, else the original
        (rows stored before display variants existed), else the thumbnail."""
        return self.display or self.file or self.thumbnail

    @property
    def shown_width(self):
        if self.display:
            return self.display_width
        return self.width if self.file else self.thumbnail_width

    @property
    def shown_height(self):
        if self.display:
            return self.display_height
        return self.height if self.file else self.thumbnail_height


class UpstreamHealth(models.Model):
    """A single row: whether the upstream currently rejects the team key, and since when."""

    key_rejected_since = models.DateTimeField(
        null=True, blank=True, verbose_name=_("key rejected since")
    )
    key_last_rejected_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("key last rejected at")
    )

    class Meta:
        verbose_name = _("upstream health")
        verbose_name_plural = _("upstream health")

    def __str__(self):
        return "upstream health"

    @classmethod
    def current(cls):
        return cls.objects.get_or_create(pk=1)[0]

    @classmethod
    def note_key_rejected(cls) -> None:
        now = timezone.now()
        cls.objects.get_or_create(pk=1)
        cls.objects.filter(pk=1, key_rejected_since__isnull=True).update(key_rejected_since=now)
        cls.objects.filter(pk=1).update(key_last_rejected_at=now)

    @classmethod
    def note_key_accepted(cls) -> None:
        # A no-op UPDATE in the normal case: cheap enough for every successful call.
        cls.objects.filter(pk=1, key_rejected_since__isnull=False).update(key_rejected_since=None)
