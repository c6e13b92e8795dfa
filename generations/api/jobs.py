"""What the APIs do for a request that carries a personal key, once its body has passed
its schema (generations/api/schemas.py): what only the key decides (its models, OpenAI's
model names it takes), turn its references into ours, submit through `services.create_job`
(the web form's path: model access, price, hold, limits, team cap, ledger) and, for the
OpenAI-compatible calls, wait until the images are kept.

Refusals are exceptions (schemas.InvalidRequest); the views turn them into the provider's
or OpenAI's shapes.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection
from django.db.models import Prefetch

from generations import catalogue, credits, presets, services, threads, upstream
from generations.accounts import members
from generations.api import bodies, keys, schemas, task_bodies
from generations.api.callbacks import address_policy
from generations.api.schemas import InvalidRequest, ModelNotAvailable, model_aliases
from generations.fetch import FetchError, FetchPolicy, check_url, fetch
from generations.images import ImageRejected, validate_upload
from generations.models import ApiKey, Generation, ResultImage, StylePreset
from generations.models.generations import GenerationId
from generations.services import ReferenceInput

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

logger = logging.getLogger(__name__)

_SIZE_RE = re.compile(r"(\d{1,5})x(\d{1,5})")
# Whether a URL's host resolves, and to what, is the server's business: both refusals read
# the same, so a caller cannot map our network through them.
ADDRESS_REFUSED = "{param}: this address cannot be used (it does not resolve, or is not allowed)"


# --- What only the key decides ---------------------------------------------------------------


def check_model(key: ApiKey, model: str) -> str:
    """A model on offer that this key may use."""
    model = model.strip()
    if not model:
        raise InvalidRequest("model is required", "model")
    if catalogue.get_model_option(model) is None or not key.allows_model(model):
        raise ModelNotAvailable(
            f"The model '{model[:100]}' does not exist or this key may not use it.", "model"
        )
    return model


def openai_model(key: ApiKey, asked: str | None) -> tuple[str, str | None]:
    """The model an OpenAI-compatible call means, and OpenAI's name when it used one of its
    own (an alias: BANANA_OPENAI_MODEL_ALIASES). Blank, or an alias to "", is the first
    model the key may use."""
    asked = (asked or "").strip()
    aliases = model_aliases()
    alias = asked if asked in aliases else None
    target = aliases[asked] if alias else asked
    if not target:
        options = keys.models_for(key)
        target = options[0].id if options else ""
        if not target:
            raise ModelNotAvailable("This key may use no model.", "model")
    return check_model(key, target), alias


def size_choice(model: str, size: str | None) -> tuple[str, str]:
    """An OpenAI `size` ("1536x1024", "auto") as our nearest aspect ratio and image size
    (the size only for models that take one). Nearest in proportion: the ratio by log of
    width/height, the size by log of the pixel count."""
    if size is None or size in ("", "auto"):
        return "", ""
    match = _SIZE_RE.fullmatch(size)
    if match is None or not int(match[1]) or not int(match[2]):
        raise InvalidRequest("size must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'", "size")
    width, height = int(match[1]), int(match[2])

    def ratio_distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log(w / h) - math.log(width / height))

    def size_distance(name: str) -> float:
        return abs(math.log(upstream.IMAGE_SIZE_PIXELS[name] ** 2) - math.log(width * height))

    aspect_ratio = min(upstream.ASPECT_RATIOS, key=ratio_distance)
    image_size = min(upstream.IMAGE_SIZES, key=size_distance)
    return aspect_ratio, catalogue.size_for(model, image_size)


def image_size_for(model: str, value: str | None) -> str:
    """A provider `image_size`, kept only when the model takes one (as the provider
    ignores it)."""
    return catalogue.size_for(model, (value or "").lower())


# --- Addresses and references ------------------------------------------------------------------


def checked_url(url: str, param: str) -> str:
    """An http(s) URL that someone will call (the image service, our callback sender):
    its form, and every address its host resolves to now, allowed by our policy."""
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise InvalidRequest(f"{param} must be an http(s) URL", param) from None
    try:
        check_url(url, address_policy())
    except FetchError as exc:
        if exc.address_refused:
            raise InvalidRequest(ADDRESS_REFUSED.format(param=param), param) from None
        raise InvalidRequest(f"{param}: {exc.message}", param) from None
    return url


def reference_from_string(
    value: str, index: int, work: bodies.Workspace, spilled: Path | None = None
) -> ReferenceInput:
    """One `images` item of the provider's body: an http(s) URL that passes our address
    policy (the image service fetches it), or a base64 data: URI we decode and check as we
    check uploads (from its file when the body reader `spilled` it)."""
    param = f"images[{index}]"
    if value[:5].lower() != "data:":
        return ReferenceInput(url=checked_url(value, param))
    limit = settings.BANANA_UPLOAD_MAX_BYTES
    if spilled is None:
        try:
            data = fetch(value.strip(), FetchPolicy(max_bytes=limit))
        except FetchError as exc:
            raise InvalidRequest(f"{param}: {exc.message}", param) from None
        return _reference_from_bytes(data, param, work)
    decoded = work.new_file()
    try:
        bodies.decode_data_uri_file(spilled, decoded, limit)
    except bodies.DataUriError as exc:
        raise InvalidRequest(f"{param}: {exc.message}", param) from None
    finally:
        spilled.unlink(missing_ok=True)
    try:
        return _reference_from_bytes(decoded.read_bytes(), param, work)
    finally:
        decoded.unlink(missing_ok=True)


def references_from_strings(
    values: Sequence[str] | None, work: bodies.Workspace, spilled: dict[int, Path]
) -> list[ReferenceInput]:
    """Each in turn: one image decoded at a time, each kept in a file once checked."""
    return [
        reference_from_string(value, i, work, spilled.get(i))
        for i, value in enumerate(values or ())
    ]


def reference_from_upload(
    upload: UploadedFile[bytes], index: int, work: bodies.Workspace
) -> ReferenceInput:
    param = f"image[{index}]"
    if upload.size is not None and upload.size > settings.BANANA_UPLOAD_MAX_BYTES:
        raise InvalidRequest(
            f"{param} is larger than {settings.BANANA_UPLOAD_MAX_BYTES // (1024 * 1024)} MB",
            param,
        )
    return _reference_from_bytes(upload.read(), param, work)


def _reference_from_bytes(data: bytes, param: str, work: bodies.Workspace) -> ReferenceInput:
    try:
        processed = validate_upload(
            data,
            max_bytes=settings.BANANA_UPLOAD_MAX_BYTES,
            max_pixels=settings.BANANA_REFERENCE_MAX_PIXELS,
        )
    except ImageRejected as exc:
        raise InvalidRequest(f"{param}: {exc.message}", param) from None
    kept = work.new_file(f".{processed.extension}")
    kept.write_bytes(processed.content)
    return ReferenceInput(
        path=str(kept),
        extension=processed.extension,
        content_type=processed.content_type,
        width=processed.width,
        height=processed.height,
    )


# --- Style presets and library assets (issue 20) ---------------------------------------------


def library_choice(
    key: ApiKey,
    prompt: str,
    preset: int | str | None,
    assets: Sequence[int | str] | None,
    *,
    other_references: int = 0,
) -> presets.Submit:
    """A call's preset and library assets, as the studio's (`presets.for_submit`): the
    prompt to send and the library references, within the reference limit with the
    call's `other_references`. schemas.NotFound (a preset or asset the member may not use)
    and InvalidRequest name the field at fault."""
    try:
        chosen = presets.for_submit(key.user, prompt, preset=preset, assets=assets or ())
    except presets.PresetRefused as exc:
        raise schemas.NotFound(str(exc), "preset") from None
    except services.ReferencesRefused as exc:
        raise schemas.NotFound(str(exc), "library_assets") from None
    # Without library references the call's own check says it (the edited image's, say).
    if chosen.references and (
        len(chosen.references) + other_references > upstream.MAX_REFERENCE_IMAGES
    ):
        raise InvalidRequest(
            f"At most {upstream.MAX_REFERENCE_IMAGES} references in all, the preset's, the "
            "library's and an edited image included.",
            "library_assets",
        )
    return chosen


# --- Submitting ----------------------------------------------------------------------------


def submit(
    key: ApiKey,
    *,
    model: str,
    prompt: str,
    references: Sequence[ReferenceInput] = (),
    aspect_ratio: str = "",
    image_size: str = "",
    callback_url: str = "",
    base_url: str = "",
    count: int = 1,
    edit_of: Generation | None = None,
    preset: StylePreset | None = None,
    member_prompt: str = "",
) -> list[Generation]:
    """`count` generations for the key's member, each its own task and hold, all or none
    (one job): a refusal (credits.CreditError, including the key's budget) rolls every one
    back. A model or size the member may not use is ModelNotAvailable, nothing spent. With
    `edit_of` (an image of ours: `edit_target`), they are the next versions of its thread,
    its image their first reference (threads.create_edit)."""
    try:
        if edit_of is not None:
            return threads.create_edit(
                key.user,
                edit_of,
                count=count,
                model=model,
                prompt=prompt,
                aspect_ratio=aspect_ratio,
                image_size=image_size,
                references=references,
                api_key=key,
                callback_url=callback_url,
                base_url=base_url,
                preset=preset,
                member_prompt=member_prompt,
            )
        return services.create_job(
            key.user,
            count=count,
            model=model,
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            image_size=image_size,
            references=references,
            api_key=key,
            callback_url=callback_url,
            base_url=base_url,
            preset=preset,
            member_prompt=member_prompt,
        )
    except members.ModelNotAllowed as exc:
        raise ModelNotAvailable(str(exc), "model") from None
    except services.LibraryAssetGone as exc:
        raise schemas.NotFound(str(exc), "library_assets") from None
    except services.ReferencesRefused:
        raise InvalidRequest(
            f"at most {upstream.MAX_REFERENCE_IMAGES} images in all, the edited image included",
            "images",
        ) from None
    except threads.EditRefused:
        raise schemas.ImageNotFound(EDIT_REFUSED, "edit_of") from None


# One answer for an id that names nothing, an image the key's member may not see or edit,
# and one not finished: no hint that a private image exists.
EDIT_REFUSED = "no finished image of ours with this id that you may edit"


def edit_target(key: ApiKey, image_id: str | None, param: str) -> Generation | None:
    """The image an API request edits (`edit_of`, `image_id`), or None when it names none."""
    if not image_id:
        return None
    try:
        return threads.editable_image(key.user, image_id)
    except threads.EditRefused:
        raise schemas.ImageNotFound(EDIT_REFUSED, param) from None


def balance_of(key: ApiKey) -> schemas.Balance:
    """The key's member's credits, as the studio's header shows them, and what the key
    has committed this month against its own budget."""
    summary = credits.summary_for(key.user)
    committed = keys.committed_this_month([key]).get(key.pk, Decimal(0))
    budget = key.monthly_budget
    text = task_bodies.credits_text
    return schemas.Balance(
        available=text(summary.available),
        held=text(summary.held),
        spent_this_month=text(summary.spent_this_month),
        monthly_allowance=text(summary.allowance),
        key=schemas.KeyBudget(
            name=key.name,
            monthly_budget=None if budget is None else text(budget),
            committed_this_month=text(committed),
            remaining_this_month=None
            if budget is None
            else text(max(budget - committed, Decimal(0))),
        ),
    )


def own_generation(key: ApiKey, task_id: str) -> Generation | None:
    """The key's member's generation with this task id (ours), or None."""
    try:
        return (
            Generation.objects.alive()
            .filter(owner=key.user, pk=task_id)
            .prefetch_related(_results())
            .first()
        )
    except ValidationError:  # not a UUID: no such task
        return None


def refreshed(key: ApiKey, generation: Generation) -> Generation:
    """The key's generation as we know it, never waiting on the upstream: when a check is
    due (as read: most queries write nothing) its refresh is claimed and left to a worker,
    as for the pages, and the row is read again (a worker, or an immediate task backend,
    may have moved it meanwhile)."""
    if services.refresh_soon(generation):
        return own_generation(key, str(generation.pk)) or generation
    return generation


def _results() -> Prefetch[Any, Any, Any]:
    return Prefetch("results", queryset=ResultImage.objects.defer("source"))


# --- Waiting -------------------------------------------------------------------------------


def load(generation_ids: Iterable[GenerationId]) -> list[Generation]:
    ids = [str(pk) for pk in generation_ids]
    found = Generation.objects.filter(pk__in=ids).prefetch_related(_results())
    rows = {str(g.pk): g for g in found}
    return [rows[pk] for pk in ids if pk in rows]


def look(generation_ids: Sequence[str]) -> set[str]:
    """One look at waited-for generations: claim a refresh of those not final whose check
    is due and leave it to a worker (`services.refresh_soon`, coalesced per generation
    across processes; a webhook or the reconciler may finish them first), and return the
    ids of those settled (final, images kept). The web process never waits on the upstream."""
    rows = load(generation_ids)
    claimed = False
    for generation in rows:
        claimed |= services.refresh_soon(generation)
    if claimed:
        rows = load(generation_ids)
    gone = set(generation_ids) - {str(g.pk) for g in rows}
    return gone | {str(g.pk) for g in rows if task_bodies.is_settled(g)}


class Watcher:
    """One thread per process looks at every generation that API calls wait for, once per
    BANANA_API_WAIT_INTERVAL, and wakes the calls whose generations are settled.

    Waiting calls only block on a condition: fifty of them cost one thread's queries (one
    look a round, on one database connection), not fifty threads polling on fifty
    connections (bench/api_wait.py measured both). The thread starts with the first
    waiting call and stops after the last.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._waiting: Counter[str] = Counter()
        self._settled: set[str] = set()
        self._running = False

    def wait(self, generation_ids: Sequence[str], timeout: float) -> bool:
        """Block until every one is settled (True) or `timeout` seconds pass (False)."""
        ids = list(generation_ids)
        with self._cond:
            self._waiting.update(ids)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="api-watcher", daemon=True).start()
            self._wake.set()  # look now, not at the end of the current interval
            try:
                return self._cond.wait_for(lambda: self._settled.issuperset(ids), timeout)
            finally:
                self._waiting.subtract(ids)
                for pk in ids:
                    if self._waiting[pk] <= 0:
                        del self._waiting[pk]
                        self._settled.discard(pk)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    if not self._waiting:
                        self._running = False
                        return
                    watched = [pk for pk in self._waiting if pk not in self._settled]
                self._wake.clear()
                if watched:
                    try:
                        settled = look(watched)
                    except Exception:
                        logger.exception("Looking at waited-for generations failed")
                        connection.close()
                        settled = set()
                    with self._cond:
                        self._settled.update(pk for pk in settled if pk in self._waiting)
                        self._cond.notify_all()
                self._wake.wait(settings.BANANA_API_WAIT_INTERVAL)
        finally:
            connection.close()


WATCHER = Watcher()


def wait_until_settled(
    generation_ids: Sequence[GenerationId], *, timeout: float
) -> tuple[list[Generation], bool]:
    """Wait until every generation is settled; returns the rows and whether they all are
    (False: the time ran out). The calling thread gives its database connection back
    while it waits (unless inside a transaction, whose rows only it could see), and the
    process's Watcher does the looking."""
    ids = [str(pk) for pk in generation_ids]
    if not connection.in_atomic_block:
        connection.close()
    settled = WATCHER.wait(ids, timeout)
    return load(ids), settled


class WaitSlots:
    """How many requests of this process wait for images at once, capped by
    BANANA_API_MAX_WAITING so that pages always find a free server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = 0

    def take(self) -> bool:
        with self._lock:
            if self._taken >= settings.BANANA_API_MAX_WAITING:
                return False
            self._taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._taken -= 1


WAIT_SLOTS = WaitSlots()
