"""The life of a generation: create, send upstream, refresh, apply state, store results.

Each public function is one short transaction at most, and no transaction is held open
across a network call. `apply_upstream_state` is the only writer of upstream-derived
fields: the status poll, the webhook and the reconciler all end there.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from generations import catalogue, credits, upstream
from generations.accounts import members
from generations.api import callbacks, keys
from generations.background import enqueue_after_commit, enqueue_later, release_connection
from generations.fetch import FetchError, FetchPolicy, fetch
from generations.images import ImageRejected, ProcessedImage, process_image
from generations.models import (
    Generation,
    LibraryAsset,
    ReferenceImage,
    ResultImage,
    UpstreamHealth,
    hash_secret,
    new_secret,
)
from generations.models.generations import (
    GenerationId,
    GenerationQuerySet,
    result_upload_path,
)
from generations.storage import content_hash

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models.fields.files import FieldFile

    from generations.models import ApiKey, StylePreset

logger = logging.getLogger(__name__)

Status = Generation.Status

MAX_RESULT_ATTEMPTS = 5
_task_id_max_length = Generation._meta.get_field("upstream_task_id").max_length
assert _task_id_max_length is not None  # the column is a CharField(max_length=100)
TASK_ID_MAX_LENGTH: int = _task_id_max_length
QUEUED_STALE_AFTER = timedelta(minutes=2)
# Between claiming a row and the submit's first byte: reading its reference images.
SEND_PREPARATION = timedelta(seconds=30)


def sending_stale_after() -> timedelta:
    """A row still "sending" after this lost its sender: no submit takes longer."""
    return timedelta(seconds=upstream.longest_submit()) + SEND_PREPARATION


# --- Creating and sending ------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceInput:
    """A validated reference: a URL, or re-encoded image bytes (`content`, or the file at
    `path` when the caller keeps large ones out of memory)."""

    url: str = ""
    content: bytes = b""
    path: str = ""
    extension: str = ""
    content_type: str = ""
    width: int | None = None
    height: int | None = None
    # A library asset's file, shared rather than copied (generations/library.py).
    stored_name: str = ""
    library_asset_id: int | None = None


def create_generation(
    owner: User,
    *,
    references: Iterable[ReferenceInput] = (),
    job_id: uuid.UUID | None = None,
    **fields: Any,
) -> Generation:
    """Record one generation and, once the row is committed, send it upstream (a job of
    one: see create_job)."""
    return create_job(owner, count=1, references=references, job_id=job_id, **fields)[0]


def create_job(
    owner: User,
    *,
    count: int = 1,
    model: str,
    prompt: str,
    aspect_ratio: str | None = "",
    image_size: str | None = "",
    references: Iterable[ReferenceInput] = (),
    retry_of: Generation | None = None,
    parent: Generation | None = None,
    visibility: str | None = None,
    api_key: ApiKey | None = None,
    callback_url: str = "",
    base_url: str = "",
    job_id: uuid.UUID | None = None,
    preset: StylePreset | None = None,
    member_prompt: str = "",
) -> list[Generation]:
    """Several images of one prompt: each its own generation (its own upstream task and its
    own hold), sharing a job id; once committed, each is sent upstream. One transaction:
    either every hold is placed or none.

    The rows must exist before the upstream hears of them: a callback can arrive before the
    submit request returns, and it must find the row it names.

    A generation made with a personal API key records the key (and counts against its
    monthly budget, in the same transaction as the hold), the member's `callback_url` and
    the `base_url` the client reached us at.

    Raises members.ModelNotAllowed for a model (or size) this member may not use: every way
    of submitting (the studio, retries, any API) comes through here. Raises a
    credits.CreditError (storage and rate limits included) when the hold is refused.
    """
    if count not in catalogue.IMAGE_COUNTS:
        raise ValueError(f"a job has 1 to {catalogue.MAX_IMAGES_PER_JOB} images")
    members.check_model_access(owner, model, image_size)
    price = credits.price_for(model, image_size)
    references = list(references)
    generations = [
        Generation(
            owner=owner,
            model=model,
            prompt=prompt,
            aspect_ratio=aspect_ratio or "",
            image_size=image_size or "",
            retry_of=retry_of,
            parent=parent,
            thread_id=(parent.thread_id or parent.pk) if parent is not None else None,
            visibility=visibility or settings.BANANA_DEFAULT_VISIBILITY,
            preset=preset,
            preset_name=preset.name if preset else "",
            member_prompt=member_prompt if preset else "",
        )
        for _ in range(count)
    ]
    job_id = job_id or (generations[0].pk if count == 1 else uuid.uuid4())
    for generation in generations:
        generation.job_id = job_id
    with transaction.atomic():
        # Raises (rolling everything back) when the member's credits or limits refuse it;
        # sets each row's hold, so they are inserted once, holds included.
        credits.place_holds(owner, generations, price)
        Generation.objects.bulk_create(generations)
        if parent is not None and parent.thread_id is None:
            # The first edit of an image makes it the first version of a thread.
            Generation.objects.filter(pk=parent.pk, thread_id__isnull=True).update(
                thread_id=parent.pk
            )
        if api_key is not None:
            keys.record_generations(
                api_key, generations, price, callback_url=callback_url, base_url=base_url
            )
        _claim_library_assets(references)
        _save_references(generations, references)
        for generation in generations:
            # Sent by a worker, never inside the web request: a slow upstream must not hold it.
            enqueue_after_commit("send_generation", generation_id=str(generation.pk))
    return generations


def _save_references(
    generations: Iterable[Generation], references: Sequence[ReferenceInput]
) -> None:
    """Each generation's own copy of the references (its files), in one INSERT."""
    rows = []
    for generation in generations:
        for position, ref in enumerate(references):
            reference = ReferenceImage(
                generation=generation,
                position=position,
                source_url=ref.url,
                content_type=ref.content_type,
                width=ref.width,
                height=ref.height,
            )
            if ref.stored_name:
                # The library's file itself: stored once however many jobs use it.
                reference.file.name = ref.stored_name
                reference.library_asset_id = ref.library_asset_id
            elif ref.content:
                reference.file.save(f"ref.{ref.extension}", ContentFile(ref.content), save=False)
            elif ref.path:
                with open(ref.path, "rb") as fh:
                    reference.file.save(f"ref.{ref.extension}", File(fh), save=False)
            rows.append(reference)
    ReferenceImage.objects.bulk_create(rows)


def _claim_library_assets(references: Sequence[ReferenceInput]) -> None:
    """The job's library assets, locked until it commits, each counted as one use. An
    asset deleted meanwhile refuses the job (LibraryAssetGone): its file may be on its
    way out. The lock orders a submit and a deletion of the same asset, so the deletion's
    check (`file_in_use`, after its commit) sees the job's reference or the job sees the
    asset gone (SQLite: the submit already holds the database's write lock here)."""
    used = {ref.library_asset_id for ref in references if ref.library_asset_id}
    if not used:
        return
    present = set(
        LibraryAsset.objects.select_for_update()
        .filter(pk__in=used)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if present != used:
        raise LibraryAssetGone(_("A library image was removed meanwhile. Pick it again."))
    LibraryAsset.objects.filter(pk__in=used).update(use_count=F("use_count") + 1)


# Where the team library keeps its files (generations/library.py): content addressed, and
# named by the references that use them rather than copied.
LIBRARY_FILES = "library/"


def file_in_use(name: str, *, besides_generation: GenerationId | None = None) -> bool:
    """Whether a library asset or a reference (other than those of one generation) still
    names this file: a shared library file is removed only when nothing names it."""
    references = ReferenceImage.objects.filter(file=name)
    if besides_generation is not None:
        references = references.exclude(generation_id=besides_generation)
    return LibraryAsset.objects.filter(file=name).exists() or references.exists()


def _stored_file_as_input(
    field_file: FieldFile, *, content_type: str, width: int | None, height: int | None
) -> ReferenceInput:
    assert field_file.name is not None  # callers pass only files that are set
    with field_file.open("rb") as fh:
        content = fh.read()
    return ReferenceInput(
        content=content,
        extension=field_file.name.rsplit(".", 1)[-1],
        content_type=content_type,
        width=width,
        height=height,
    )


def copy_references(generation: Generation, skip: Iterable[int] = ()) -> list[ReferenceInput]:
    """The references of a generation as ReferenceInputs, for a retry or a remix (without
    those at the positions in `skip`: the member removed them from the remix)."""
    skip = set(skip)
    return [
        ReferenceInput(
            stored_name=ref.file.name or "",
            library_asset_id=ref.library_asset_id,
            content_type=ref.content_type,
            width=ref.width,
            height=ref.height,
        )
        if ref.file and (ref.file.name or "").startswith(LIBRARY_FILES)
        else _stored_file_as_input(
            ref.file, content_type=ref.content_type, width=ref.width, height=ref.height
        )
        if ref.file
        else ReferenceInput(url=ref.source_url)
        for ref in generation.references.all()
        if ref.position not in skip
    ]


class ReferencesRefused(Exception):
    """The references of a new generation cannot be used; str() is for the member."""


class LibraryAssetGone(ReferencesRefused):
    """A library asset among the references was deleted before the job committed."""


def references_for_submit(
    user: User,
    own: Iterable[ReferenceInput],
    *,
    remix_of: GenerationId | None = None,
    reference_from: GenerationId | None = None,
    position: int | None = 0,
    remix_drop: Iterable[int] = (),
) -> list[ReferenceInput]:
    """The references of a new generation: those a remix (less the positions in
    `remix_drop`) or "use as reference" inherits (only from generations this user may
    reuse: their own and the team's), then the member's own. Raises ReferencesRefused when
    they cannot be used."""
    visible = Generation.objects.reusable_by(user)
    inherited: list[ReferenceInput] = []
    if remix_of:
        original = visible.filter(pk=remix_of).first()
        if original is None:
            raise ReferencesRefused(_("The image to remix is no longer available."))
        inherited += copy_references(original, skip=remix_drop)
    if reference_from:
        result = (
            ResultImage.objects.filter(
                generation__in=visible,
                generation_id=reference_from,
                position=position or 0,
                state=ResultImage.State.STORED,
            )
            .exclude(file="")
            .first()
        )
        if result is None:
            raise ReferencesRefused(_("The reference image is no longer available."))
        inherited.append(
            _stored_file_as_input(
                result.file,
                content_type=result.content_type,
                width=result.width,
                height=result.height,
            )
        )
    references = inherited + list(own)
    if len(references) > upstream.MAX_REFERENCE_IMAGES:
        raise ReferencesRefused(
            _("At most %(max)d reference images in all.") % {"max": upstream.MAX_REFERENCE_IMAGES}
        )
    return references


def retry_generation(generation: Generation, owner: User) -> Generation:
    return run_again(generation, owner, retry_of=generation)


def vary_generation(generation: Generation, owner: User) -> Generation:
    """The same prompt, settings and references, run again (by whoever asks, as theirs)."""
    return run_again(generation, owner)


def run_again(
    generation: Generation, owner: User, *, retry_of: Generation | None = None
) -> Generation:
    return create_generation(
        owner,
        model=generation.model,
        prompt=generation.prompt,
        aspect_ratio=generation.aspect_ratio,
        image_size=generation.image_size,
        references=copy_references(generation),
        retry_of=retry_of,
        # A retried or varied edit stays a version of its thread.
        parent=generation.parent,
        visibility=generation.visibility,
    )


def cancel_generation(generation_id: GenerationId) -> bool:
    """Call off a generation not yet sent upstream, and give its hold back: one conditional
    UPDATE (queued -> failed), so it either wins against the sender's claim or does nothing.
    Returns True when it was cancelled."""
    message = Generation.CANCELLED_MESSAGE
    return bool(_finish_without_task(generation_id, message, allowed=[Status.QUEUED]))


def callback_url(generation: Generation, secret: str) -> str | None:
    if not settings.PUBLIC_BASE_URL:
        return None
    path = reverse("upstream_webhook", kwargs={"generation_id": generation.pk, "secret": secret})
    return settings.PUBLIC_BASE_URL + path


REFERENCE_SIGNING_SALT = "generations.reference"


def signed_reference_url(reference: ReferenceImage) -> str:
    token = signing.TimestampSigner(salt=REFERENCE_SIGNING_SALT).sign(str(reference.pk))
    return settings.PUBLIC_BASE_URL + reverse("reference_public", kwargs={"token": token})


def reference_from_token(token: str) -> ReferenceImage | None:
    """The reference a signed URL names, or None when the signature is bad or expired."""
    try:
        pk = signing.TimestampSigner(salt=REFERENCE_SIGNING_SALT).unsign(
            token, max_age=settings.BANANA_REFERENCE_URL_TTL
        )
    except signing.BadSignature:
        return None
    return ReferenceImage.objects.filter(pk=pk).exclude(file="").first()


def reference_for_upstream(reference: ReferenceImage) -> str:
    """How the upstream gets a reference: the member's URL, a signed URL of ours, or,
    when we are not reachable from the internet, the image itself as a data URI."""
    if reference.source_url:
        return reference.source_url
    if settings.PUBLIC_BASE_URL:
        return signed_reference_url(reference)
    with reference.file.open("rb") as fh:
        encoded = base64.b64encode(fh.read()).decode("ascii")
    return f"data:{reference.content_type or 'image/png'};base64,{encoded}"


def send_generation(generation_id: GenerationId) -> bool:
    """Send a committed generation upstream, at most once. Returns True if this call sent it.

    The conditional UPDATE claims the row, so two processes can never both send it. The
    claim also stores the hash of a new webhook secret: the secret itself lives only in the
    callback URL sent, never in our database or task queue. Without PUBLIC_BASE_URL no
    callback URL is sent, and no hash is stored: no webhook can ever name this task, which
    the reconciler relies on when the submit's outcome is unknown.
    """
    secret = new_secret()
    offers_callback = bool(settings.PUBLIC_BASE_URL)
    claimed = Generation.objects.filter(
        pk=generation_id, status=Status.QUEUED, deleted_at__isnull=True
    ).update(
        status=Status.SENDING,
        submitted_at=timezone.now(),
        webhook_secret_hash=hash_secret(secret) if offers_callback else "",
    )
    if not claimed:
        return False
    generation = Generation.objects.get(pk=generation_id)
    try:
        images = [reference_for_upstream(r) for r in generation.references.all()]
    except OSError:
        logger.exception("Generation %s: a reference image could not be read", generation_id)
        _finish_without_task(
            generation_id,
            gettext_noop("A reference image could not be read. Please add it again and retry."),
            allowed=[Status.SENDING],
        )
        return True
    release_connection()  # the submit waits on the network
    try:
        task_id = upstream.submit(
            model=generation.model,
            prompt=generation.prompt,
            images=images,
            callback_url=callback_url(generation, secret) if offers_callback else None,
            aspect_ratio=generation.aspect_ratio or None,
            image_size=generation.image_size or None,
        )
    except upstream.SubmitOutcomeUnknown:
        logger.warning("Submit of generation %s: outcome unknown", generation_id)
        Generation.objects.filter(pk=generation_id, status=Status.SENDING).update(
            status=Status.UNKNOWN
        )
        return True
    except upstream.UpstreamError as exc:
        # Not created upstream (4xx, or 5xx after every retry: the vendor documents a 500
        # as a failed request), unless an early callback has already named its task.
        _note_upstream_error(exc)
        message = str(exc.user_message)
        if isinstance(exc, upstream.BadRequest) and exc.detail:
            message = gettext_noop("%(message)s (The service said: %(detail)s)") % {
                "message": message,
                "detail": exc.detail[:300],
            }
        if not _finish_without_task(generation_id, message, allowed=[Status.SENDING]):
            _mark_sent(generation_id)
        return True
    _note_key_accepted()
    if bind_task_id(generation_id, task_id):
        _mark_sent(generation_id)
    else:
        Generation.objects.filter(pk=generation_id, status=Status.SENDING).update(
            status=Status.UNKNOWN
        )
    return True


def _mark_sent(generation_id: GenerationId) -> None:
    Generation.objects.filter(
        pk=generation_id, status=Status.SENDING, upstream_task_id__isnull=False
    ).update(status=Status.PENDING)


def bind_task_id(generation_id: GenerationId, task_id: str) -> bool:
    """Attach the upstream's task id to a row that has none yet.

    Both the submit response and an early callback may do this, in either order.
    Returns True when the row now carries this task id.
    """
    if not task_id or len(task_id) > TASK_ID_MAX_LENGTH:
        logger.warning("Generation %s: unusable task id from the upstream", generation_id)
        return False
    try:
        with transaction.atomic():
            Generation.objects.filter(pk=generation_id, upstream_task_id__isnull=True).update(
                upstream_task_id=task_id
            )
    except IntegrityError:
        logger.warning("Task id %s is already bound to another generation", task_id)
        return False
    return Generation.objects.filter(pk=generation_id, upstream_task_id=task_id).exists()


def _finish_without_task(
    generation_id: GenerationId,
    message: str,
    *,
    allowed: Iterable[Generation.Status],
    task_bound: bool = False,
    outcome_unknown: bool = False,
) -> int:
    """Fail a generation for which the upstream has no task, and release its hold.

    Unless `task_bound`, a row that meanwhile got a task id (an early callback named it)
    is left alone: the upstream has it after all.
    """
    rows = Generation.objects.filter(pk=generation_id, status__in=allowed)
    if not task_bound:
        rows = rows.filter(upstream_task_id__isnull=True)
    with transaction.atomic():
        finished = rows.update(
            status=Status.FAILED,
            error_message=message,
            finished_at=timezone.now(),
            outcome_unknown=outcome_unknown,
        )
        if finished:
            keys.hold_closed(generation_id, credits.release(generation_id, message))
            callbacks.generation_settled(generation_id)
        return finished


# --- Learning the upstream's state ---------------------------------------------------------
#
# One refresh (one upstream query) per generation is in flight at a time. Whoever wants one
# (a page's poll, a webhook, the reconciler, an API call) claims it with a conditional
# UPDATE, which sets `refresh_claimed_until`: the claim holds until the refresh has run
# (`refresh_claimed` ends it) or, should its worker die, until BANANA_REFRESH_CLAIM_TIMEOUT
# has passed. A claim is granted once the last answer is BANANA_POLL_INTERVAL old, except
# for a webhook that announces a final state (the upstream calls back once a task is
# final, contract section 3), which asks at once.

# A webhook announcing a final state asks at once, but not more often than this per
# generation: a receiver replaying it cannot make us query in a loop.
ANNOUNCED_FINAL_GAP = 0.25
# How many more looks one refresh takes for webhooks that came while it was in flight.
MAX_EXTRA_LOOKS = 3


def _claimable(now: datetime, interval: float) -> GenerationQuerySet:
    due = Q(last_checked_at__isnull=True) | Q(
        last_checked_at__lte=now - timedelta(seconds=interval)
    )
    free = Q(refresh_claimed_until__isnull=True) | Q(refresh_claimed_until__lte=now)
    return Generation.objects.filter(
        due, free, upstream_task_id__isnull=False, status__in=Generation.IN_FLIGHT
    )


def _claim_fields(now: datetime) -> dict[str, datetime]:
    timeout = timedelta(seconds=settings.BANANA_REFRESH_CLAIM_TIMEOUT)
    return {"last_checked_at": now, "refresh_claimed_until": now + timeout}


def claim_check(generation_id: GenerationId, *, interval: float | None = None) -> bool:
    """Claim the right to ask the upstream about this generation now.

    Only the caller whose UPDATE changed the row asks, so ten tabs polling at once (in any
    number of processes) cost one upstream query per interval, and none while a refresh is
    in flight. The caller must then run `refresh_claimed`, which ends the claim.
    """
    now = timezone.now()
    interval = settings.BANANA_POLL_INTERVAL if interval is None else interval
    claimable = _claimable(now, interval).filter(pk=generation_id)
    return bool(claimable.update(**_claim_fields(now)))


def next_check_at(generation_id: GenerationId, *, interval: float | None = None) -> datetime | None:
    """When asking the upstream about a generation in flight falls due again (None when
    there is nothing to ask: it is final, or has no task yet)."""
    interval = settings.BANANA_POLL_INTERVAL if interval is None else interval
    row = (
        Generation.objects.in_flight()
        .filter(pk=generation_id, upstream_task_id__isnull=False)
        .values_list("last_checked_at", flat=True)
        .first()
    )
    if row is None:
        return None
    return row + timedelta(seconds=interval)


def refresh_from_upstream(generation_id: GenerationId) -> bool:
    """Ask the upstream about one generation, if due and no refresh is in flight, and apply
    the answer. Returns True when the row changed."""
    if not claim_check(generation_id):
        return False
    return refresh_claimed(generation_id)


def refresh_soon(generation: Generation) -> bool:
    """For web requests, which never wait on the upstream: when a refresh is due, claim it
    (coalesced exactly like refresh_from_upstream) and leave the asking to a worker. Returns
    True when this call claimed it.

    `generation` is the row as the request read it. A row that was not due then is not due
    now (last_checked_at only moves forward), so most polls write nothing: only a row that
    looked due tries the claim, whose conditional UPDATE stays the one judge.
    """
    if not looked_due(generation):
        return False
    if not claim_check(generation.pk):
        return False
    enqueue_after_commit("refresh_claimed_generation", generation_id=str(generation.pk))
    return True


def looked_due(generation: Generation) -> bool:
    """claim_check's condition, on a row already read."""
    if generation.status not in Generation.IN_FLIGHT or generation.upstream_task_id is None:
        return False
    now = timezone.now()
    claimed = generation.refresh_claimed_until
    if claimed is not None and claimed > now:
        return False
    last = generation.last_checked_at
    interval = timedelta(seconds=settings.BANANA_POLL_INTERVAL)
    return last is None or last <= now - interval


def refresh_claimed(generation_id: GenerationId, *, store_later: bool = True) -> bool:
    """Ask the upstream about a generation whose refresh the caller has claimed, apply the
    answer, and end the claim. A row that is already final asks nobody. A webhook that
    announced a final state while this refresh was in flight (its query may have gone out
    before the task was done) gets one more look at once. Returns True when the row
    changed. `store_later=False`: the caller stores a success's images itself."""
    changed = False
    for _look in range(1 + MAX_EXTRA_LOOKS):
        try:
            changed |= _ask_upstream(generation_id, store_later=store_later)
        finally:
            _end_claim(generation_id)
        if not _claim_again(generation_id):
            break
    return changed


def _end_claim(generation_id: GenerationId) -> None:
    """The refresh has run: its answer is the last check, unless a webhook asked for another
    look meanwhile (it cleared last_checked_at), which stays asked for."""
    now = timezone.now()
    Generation.objects.filter(pk=generation_id).update(
        refresh_claimed_until=None,
        last_checked_at=Case(
            When(last_checked_at__isnull=True, then=Value(None, DateTimeField())),
            default=Value(now, DateTimeField()),
        ),
    )


def _claim_again(generation_id: GenerationId) -> bool:
    now = timezone.now()
    asked = _claimable(now, 0).filter(pk=generation_id, last_checked_at__isnull=True)
    return bool(asked.update(**_claim_fields(now)))


def _ask_upstream(generation_id: GenerationId, *, store_later: bool = True) -> bool:
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or generation.is_final or generation.upstream_task_id is None:
        return False
    # The query waits on the network: this thread's connection is not needed meanwhile.
    release_connection()
    try:
        state = upstream.query(generation.upstream_task_id)
    except upstream.TaskNotFound:
        # The upstream briefly denies tasks it has just accepted; only a lasting denial counts.
        since = generation.submitted_at or generation.created_at
        if timezone.now() - since > timedelta(seconds=settings.BANANA_NOT_FOUND_GRACE):
            _finish_without_task(
                generation_id,
                gettext_noop("The image service has no record of this generation."),
                allowed=list(Generation.IN_FLIGHT),
                task_bound=True,
            )
            return True
        return False
    except upstream.UpstreamError as exc:
        _note_upstream_error(exc)
        logger.info("Refresh of generation %s failed: %s", generation_id, type(exc).__name__)
        return False
    _note_key_accepted()
    return apply_upstream_state(generation_id, state, store_later=store_later)


def refresh_on_webhook(
    generation_id: GenerationId,
    *,
    announced_final: bool = False,
    announced_images: Sequence[str] = (),
) -> datetime | None:
    """What a webhook's task does. A refresh that is due is run now. A webhook announcing a
    final state does not wait for the interval: it asks at once, even beside a refresh in
    flight whose query went out before the announcement. Returns when to come back, when
    nothing could be asked yet (None: done, or nothing left to ask).

    The images a webhook announces are downloaded while the upstream is asked: the member
    waits for one round trip instead of two. Only what the answer confirms is kept (the
    body is a hint); the download itself is held to the policy of every result's."""
    gap = ANNOUNCED_FINAL_GAP if announced_final else None
    if claim_check(generation_id, interval=gap):
        _look_and_store(
            generation_id,
            announced_images,
            lambda store_later: refresh_claimed(generation_id, store_later=store_later),
        )
        return None
    if announced_final:
        now = timezone.now()
        in_flight = Generation.objects.in_flight().filter(
            pk=generation_id, refresh_claimed_until__gt=now
        )
        # A refresh claimed before the announcement sent its query before the task was
        # done, most likely: its answer cannot tell. Rather than wait for it and look once
        # more, look now beside it (the first such webhook only; applying is exactly-once).
        asked_before = now - timedelta(seconds=ANNOUNCED_FINAL_GAP)
        if in_flight.filter(last_checked_at__lt=asked_before).update(last_checked_at=now):
            _look_and_store(
                generation_id,
                announced_images,
                lambda store_later: _ask_upstream(generation_id, store_later=store_later),
            )
            return None
        # Claimed just now (a duplicate webhook's own refresh, or a poll's at the very end):
        # that refresh looks once more when it ends.
        if in_flight.update(last_checked_at=None):
            return None
    return next_check_at(generation_id, interval=gap)


def _look_and_store(
    generation_id: GenerationId, images: Sequence[str], look: Callable[[bool], bool]
) -> None:
    """Run `look` (asking the upstream, then applying its answer), downloading the
    announced `images` meanwhile, and store a success's results from those downloads."""
    if not images:
        look(True)
        return
    policy = fetch_policy()
    with ThreadPoolExecutor(len(images), "prefetch") as downloads:
        prefetched = {url: downloads.submit(_fetched, url, policy) for url in images}
        look(False)
        if store_results(generation_id, prefetched):
            enqueue_later("store_results", STORE_RETRY_DELAY, generation_id=str(generation_id))


def announced_images(payload: object) -> list[str]:
    """The image URLs a webhook's body says a successful task made, to fetch while the
    upstream confirms them (never data: URIs, which a task's arguments would carry)."""
    if not isinstance(payload, dict):
        return []
    try:
        state = upstream.parse_task_state(payload)
    except upstream.UpstreamError:
        return []
    if Status.from_upstream(state.status) != Status.SUCCESS:
        return []
    urls = [url for url in state.images if url.startswith(("https://", "http://"))]
    return urls[: catalogue.MAX_IMAGES_PER_JOB]


def announces_final(payload: object) -> bool:
    """Does a webhook's body say its task is final? Only when to ask depends on it: what is
    applied is always read back from the upstream."""
    if not isinstance(payload, dict):
        return False
    try:
        return upstream.parse_task_state(payload).is_final
    except upstream.UpstreamError:
        return False


def apply_upstream_state(
    generation_id: GenerationId, state: upstream.TaskState, *, store_later: bool = True
) -> bool:
    """Apply what the upstream says about a task to its generation, idempotently.

    A final state is never left, a status never moves backwards, and the move into a final
    state happens exactly once (the conditional UPDATE's row count says whether it was us).
    Returns True when the row changed.
    """
    new_status = Status.from_upstream(state.status)
    now = timezone.now()
    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update()
            .filter(pk=generation_id, upstream_task_id=state.task_id)
            .first()
        )
        if generation is None or generation.is_final:
            return False
        rank = Generation.STATUS_RANK
        if rank[new_status] < rank[Status(generation.status)]:
            return False
        fields: dict[str, Any] = {"status": new_status, "upstream_status": state.raw_status[:50]}
        if new_status in Generation.FINAL:
            fields.update(
                finished_at=now,
                credits_consumed=state.consumed,
                error_message=state.error_message if new_status == Status.FAILED else "",
            )
            if new_status == Status.FAILED and not fields["error_message"]:
                fields["error_message"] = gettext_noop(
                    "The image service could not make this image."
                )
        changed = (
            Generation.objects.filter(pk=generation_id)
            .exclude(status__in=Generation.FINAL)
            .update(**fields)
        )
        # A generation deleted while it ran still gets its final state and its credits
        # settled, but its images are not fetched.
        # (The upstream client reports a success without an image as a failure.)
        if changed and new_status == Status.SUCCESS and generation.deleted_at is None:
            ResultImage.objects.bulk_create(
                ResultImage(generation_id=generation_id, position=i, source=source)
                for i, source in enumerate(state.images)
            )
            if store_later:
                enqueue_after_commit("store_results", generation_id=str(generation_id))
        if changed and new_status in Generation.FINAL:
            _settle_credits(generation_id, new_status, state, fields.get("error_message", ""))
            callbacks.generation_settled(generation_id)
    return bool(changed)


def _settle_credits(
    generation_id: GenerationId,
    new_status: Generation.Status,
    state: upstream.TaskState,
    message: str,
) -> None:
    # What the upstream charged is charged, even for a result we then reject (a text
    # answer): the ledger follows the team's real spend.
    if new_status == Status.SUCCESS or (state.consumed is not None and state.consumed > 0):
        entry = credits.settle(generation_id, state.consumed)
    else:
        entry = credits.release(generation_id, message)
    keys.hold_closed(generation_id, entry)


def handle_callback(generation: Generation, payload: object) -> None:
    """React to a callback whose secret was already verified.

    The body is only a hint: its task id may bind a row whose submit response was lost,
    but the state applied is read back from the upstream.
    """
    task_id = payload.get("task_id") if isinstance(payload, dict) else None
    if generation.upstream_task_id is None and isinstance(task_id, str):
        bound = bind_task_id(generation.pk, task_id.strip())
        if bound:
            Generation.objects.filter(pk=generation.pk, status=Status.UNKNOWN).update(
                status=Status.PENDING
            )
    options: dict[str, Any] = {"final": True} if announces_final(payload) else {}
    images = announced_images(payload)
    if images:
        options["images"] = images
    enqueue_after_commit("refresh_after_webhook", generation_id=str(generation.pk), **options)


# --- Storing results -----------------------------------------------------------------------


def fetch_policy() -> FetchPolicy:
    return FetchPolicy(
        max_bytes=settings.BANANA_FETCH_MAX_BYTES,
        require_https=settings.BANANA_FETCH_REQUIRE_HTTPS,
        allow_private=settings.BANANA_FETCH_ALLOW_PRIVATE,
        allowed_hosts=frozenset(h.lower() for h in settings.BANANA_FETCH_ALLOWED_HOSTS),
    )


def reference_url_policy() -> FetchPolicy:
    """What a member's reference URL must pass before the upstream is told to fetch it:
    our download rules, but any host (the allowlist names the upstream's own hosts)."""
    return replace(fetch_policy(), allowed_hosts=frozenset())


# How long a result whose download failed for now waits before the next try.
STORE_RETRY_DELAY = timedelta(seconds=20)


def _fetched(url: str, policy: FetchPolicy) -> ProcessedImage:
    return process_image(
        fetch(url, policy),
        max_pixels=settings.BANANA_MAX_PIXELS,
        display_size=settings.BANANA_DISPLAY_SIZE,
    )


def store_results(
    generation_id: GenerationId, prefetched: Mapping[str, Future[ProcessedImage]] | None = None
) -> bool:
    """Copy every waiting result of a generation into our storage, with a thumbnail;
    `prefetched` holds downloads already under way, by URL.

    Returns True when some result still waits and deserves another attempt later.
    """
    policy = fetch_policy()
    again = False
    for result in ResultImage.objects.filter(
        generation_id=generation_id,
        state=ResultImage.State.WAITING,
        generation__deleted_at__isnull=True,
    ):
        release_connection()  # the download waits on the network
        download = (prefetched or {}).get(result.source)
        try:
            processed = download.result() if download else _fetched(result.source, policy)
        except FetchError as exc:
            attempts = result.attempts + 1
            permanent = exc.permanent or attempts >= MAX_RESULT_ATTEMPTS
            logger.warning("Result %s of %s not fetched: %s", result.pk, generation_id, exc)
            ResultImage.objects.filter(pk=result.pk).update(
                attempts=attempts,
                state=ResultImage.State.FAILED if permanent else ResultImage.State.WAITING,
                error_message=gettext_noop("The image could not be downloaded."),
            )
            again = again or not permanent
            continue
        except ImageRejected as exc:
            ResultImage.objects.filter(pk=result.pk).update(
                attempts=result.attempts + 1,
                state=ResultImage.State.FAILED,
                error_message=str(exc)[:300],
            )
            continue
        _keep_result(result, processed)
    if not again:
        callbacks.generation_settled(generation_id)
    return again


def _keep_result(result: ResultImage, processed: ProcessedImage) -> None:
    """Write the files, then mark the result stored, if it still waits for them.

    Two workers (the task and the reconciler) may fetch the same result, and the generation
    may have been deleted meanwhile: only the UPDATE that finds it still waiting keeps
    its files. Each name carries a hash of its bytes, so a name never stands for other
    bytes and the URLs of a file can be cached for good.
    """
    assert processed.display is not None  # store_results asks for a display variant
    base = f"{result.generation_id}-{result.position}"
    storage = result.file.storage

    def save(suffix: str, content: bytes) -> str:
        name = result_upload_path(result, f"{base}-{content_hash(content)}{suffix}")
        return storage.save(name, ContentFile(content))

    file_name = save(f".{processed.extension}", processed.content)
    display_name = save("-display.webp", processed.display)
    thumb_name = save("-thumb.webp", processed.thumbnail)
    kept = ResultImage.objects.filter(
        pk=result.pk, state=ResultImage.State.WAITING, generation__deleted_at__isnull=True
    ).update(
        state=ResultImage.State.STORED,
        file=file_name,
        display=display_name,
        thumbnail=thumb_name,
        source="",
        content_type=processed.content_type,
        width=processed.width,
        height=processed.height,
        byte_size=len(processed.content),
        display_width=processed.display_width,
        display_height=processed.display_height,
        display_byte_size=len(processed.display),
        thumbnail_width=processed.thumbnail_width,
        thumbnail_height=processed.thumbnail_height,
        thumbnail_byte_size=len(processed.thumbnail),
        attempts=F("attempts") + 1,
        error_message="",
    )
    if not kept:
        # A storage that overwrites may have given the winner the very same names.
        winner = set(
            ResultImage.objects.filter(pk=result.pk).values_list("file", "display", "thumbnail")
        )
        held = {name for names in winner for name in names}
        for name in (file_name, display_name, thumb_name):
            if name not in held:
                storage.delete(name)


# --- Deleting ------------------------------------------------------------------------------


def delete_generation(generation: Generation) -> bool:
    """Soft delete: the row (and the ledger's entries about it) stay, the images go."""
    with transaction.atomic():
        changed = Generation.objects.filter(pk=generation.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
        if changed:
            transaction.on_commit(lambda: remove_files(generation.pk))
    return bool(changed)


def remove_files(generation_id: GenerationId) -> None:
    names: list[str] = []
    for result in ResultImage.objects.filter(generation_id=generation_id):
        # A FieldFile is true when its name is set: `if f.name` is `if f`, with the type.
        names += [f.name for f in (result.file, result.display, result.thumbnail) if f.name]
    # Results still waiting are marked failed, so the storer never brings them back.
    ResultImage.objects.filter(generation_id=generation_id).update(
        file="", display="", thumbnail="", state=ResultImage.State.FAILED, source=""
    )
    shared: list[str] = []
    for reference in ReferenceImage.objects.filter(generation_id=generation_id):
        if reference.file.name:
            shared_file = reference.file.name.startswith(LIBRARY_FILES)
            (shared if shared_file else names).append(reference.file.name)
    ReferenceImage.objects.filter(generation_id=generation_id).delete()
    # A library file goes only with the last asset or reference that names it.
    names += [name for name in shared if not file_in_use(name)]
    for name in names:
        default_storage.delete(name)


# --- The reconciler ------------------------------------------------------------------------


def reconcile(now: datetime | None = None) -> dict[str, int]:
    """Settle what no webhook and no viewer finished. Safe to run anywhere, any time.

    Returns a dict of counts, for the command's output.
    """
    now = now or timezone.now()
    counts = {"refreshed": 0, "resent": 0, "unknown": 0, "given_up": 0, "stored": 0}
    quiet = now - timedelta(seconds=settings.BANANA_RECONCILE_AFTER)

    watched = (
        Generation.objects.in_flight()
        .filter(upstream_task_id__isnull=False, created_at__lte=quiet)
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lte=quiet))
    )
    for pk in watched.values_list("pk", flat=True):
        # Claimed here, asked by a worker: the reconciler never waits on the upstream, and
        # a refresh already in flight is not doubled.
        if claim_check(pk):
            enqueue_after_commit("refresh_claimed_generation", generation_id=str(pk))
            counts["refreshed"] += 1

    # Never sent: the process that created them, or the send task, died first.
    for pk in Generation.objects.filter(
        status=Status.QUEUED, created_at__lte=now - QUEUED_STALE_AFTER, deleted_at__isnull=True
    ).values_list("pk", flat=True):
        counts["resent"] += send_generation(pk)

    # Died while sending (no submit takes this long): the upstream may or may not have it.
    counts["unknown"] += Generation.objects.filter(
        status=Status.SENDING,
        upstream_task_id__isnull=True,
        submitted_at__lte=now - sending_stale_after(),
    ).update(status=Status.UNKNOWN)

    # An unknown outcome is settled as soon as nothing can tell us more: at once when no
    # callback URL was sent (only the upstream's callback could name the task), otherwise
    # once the upstream would long have finished and called back.
    give_up = now - timedelta(seconds=settings.BANANA_UNKNOWN_TIMEOUT)
    for pk in Generation.objects.filter(
        Q(webhook_secret_hash="") | Q(submitted_at__lte=give_up),
        status=Status.UNKNOWN,
        upstream_task_id__isnull=True,
    ).values_list("pk", flat=True):
        counts["given_up"] += _finish_without_task(
            pk,
            gettext_noop(
                "The image service never confirmed this generation. "
                "Its credits were released; please try again."
            ),
            allowed=[Status.UNKNOWN],
            # The submit may have reached the upstream, which may have charged the team.
            outcome_unknown=True,
        )

    waiting = ResultImage.objects.filter(
        state=ResultImage.State.WAITING,
        generation__status=Status.SUCCESS,
        generation__deleted_at__isnull=True,
    )
    for pk in waiting.order_by().values_list("generation_id", flat=True).distinct():
        store_results(pk)
        counts["stored"] += 1
    return counts


# --- The team key's health (for admins) ----------------------------------------------------


def _note_upstream_error(exc: upstream.UpstreamError) -> None:
    if isinstance(exc, upstream.Unauthorized):
        UpstreamHealth.note_key_rejected()


def _note_key_accepted() -> None:
    UpstreamHealth.note_key_accepted()
