"""What the APIs do for a request that carries a personal key: check what it asks for,
turn its references into ours, submit through `services.create_job` (the web form's
path: model access, price, hold, limits, team cap, ledger) and, for the OpenAI-compatible
calls, wait until the images are kept.

Refusals are exceptions; the views turn them into the provider's or OpenAI's shapes.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection
from django.db.models import Prefetch

from generations import catalogue, services, upstream
from generations.accounts import members
from generations.api import task_bodies
from generations.api.callbacks import address_policy
from generations.fetch import FetchError, FetchPolicy, check_url, fetch
from generations.images import ImageRejected, validate_upload
from generations.models import ApiKey, Generation, ReferenceImage, ResultImage
from generations.models.generations import GenerationId
from generations.services import ReferenceInput

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

logger = logging.getLogger(__name__)

_url_length = ReferenceImage._meta.get_field("source_url").max_length
assert _url_length is not None
URL_MAX_LENGTH: int = _url_length
MAX_IMAGES_PER_REQUEST = 4  # n of the OpenAI calls
# Long side in pixels of each image size, for mapping OpenAI sizes ("1536x1024").
SIZE_PIXELS = {"1k": 1024, "2k": 2048, "4k": 4096}
_SIZE_RE = re.compile(r"(\d{1,5})x(\d{1,5})")


class InvalidRequest(Exception):
    """The request is malformed or asks for what we do not offer; nothing was spent.
    str() is for the caller; `param` names the offending field."""

    code = "invalid_value"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ModelNotAvailable(InvalidRequest):
    code = "model_not_found"


# --- Checking what is asked ----------------------------------------------------------------


def _storable(text: str) -> bool:
    """Text a database column takes: no NUL, valid UTF-8 (JSON allows lone surrogates)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_prompt(prompt: object) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("prompt is required", "prompt")
    if not _storable(prompt):
        raise InvalidRequest("prompt holds characters that are not allowed", "prompt")
    if len(prompt) > settings.BANANA_PROMPT_MAX_LENGTH:
        raise InvalidRequest(
            f"prompt is longer than {settings.BANANA_PROMPT_MAX_LENGTH} characters", "prompt"
        )
    return prompt.strip()


def check_model(key: ApiKey, model: object) -> str:
    """A model on offer that this key may use."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("model is required", "model")
    model = model.strip()
    if catalogue.get_model_option(model) is None or not key.allows_model(model):
        raise ModelNotAvailable(
            f"The model '{model[:100]}' does not exist or this key may not use it.", "model"
        )
    return model


def check_aspect_ratio(value: object) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or value.strip().lower() not in upstream.ACCEPTED_ASPECT_RATIOS:
        raise InvalidRequest("unsupported aspect_ratio", "aspect_ratio")
    return value.strip().lower()


def check_image_size(model: str, value: object) -> str:
    """A known size, kept only when the model takes one (as the provider ignores it)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or value.strip().lower() not in upstream.IMAGE_SIZES:
        raise InvalidRequest("unsupported image_size", "image_size")
    return catalogue.size_for(model, value.strip().lower())


def size_choice(model: str, size: object) -> tuple[str, str]:
    """An OpenAI `size` ("1536x1024", "auto") as our nearest aspect ratio and image size
    (the size only for models that take one). Nearest in proportion: the ratio by log of
    width/height, the size by log of the pixel count."""
    if size is None or size in ("", "auto"):
        return "", ""
    match = _SIZE_RE.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        raise InvalidRequest("size must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'", "size")
    width, height = int(match[1]), int(match[2])
    if not width or not height:
        raise InvalidRequest("size must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'", "size")

    def ratio_distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log(w / h) - math.log(width / height))

    def size_distance(name: str) -> float:
        return abs(math.log(SIZE_PIXELS[name] ** 2) - math.log(width * height))

    aspect_ratio = min(upstream.ASPECT_RATIOS, key=ratio_distance)
    image_size = min(upstream.IMAGE_SIZES, key=size_distance)
    return aspect_ratio, catalogue.size_for(model, image_size)


def check_count(n: object) -> int:
    if n is None:
        return 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES_PER_REQUEST:
        raise InvalidRequest(f"n must be an integer from 1 to {MAX_IMAGES_PER_REQUEST}", "n")
    return n


def check_callback_url(value: object) -> str:
    """A member's callback URL: http(s), no credentials, an address we may call."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidRequest("callback_url must be an http(s) URL", "callback_url")
    url = _checked_url(value.strip(), "callback_url")
    return url


def _checked_url(url: str, param: str) -> str:
    if not _storable(url):
        raise InvalidRequest(f"{param} must be an http(s) URL", param)
    if len(url) > URL_MAX_LENGTH:
        raise InvalidRequest(f"{param} is longer than {URL_MAX_LENGTH} characters", param)
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise InvalidRequest(f"{param} must be an http(s) URL", param) from None
    try:
        check_url(url, address_policy())
    except FetchError as exc:
        raise InvalidRequest(f"{param}: {exc.message}", param) from None
    return url


def reference_from_string(value: object, index: int) -> ReferenceInput:
    """One `images` item of the provider's body: an http(s) URL that passes our address
    policy (the image service fetches it), or a base64 data: URI we decode and check as we
    check uploads."""
    param = f"images[{index}]"
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{param} must be an http(s) URL or a data: URI", param)
    value = value.strip()
    if value[:5].lower() != "data:":
        return ReferenceInput(url=_checked_url(value, param))
    try:
        data = fetch(value, FetchPolicy(max_bytes=settings.BANANA_UPLOAD_MAX_BYTES))
    except FetchError as exc:
        raise InvalidRequest(f"{param}: {exc.message}", param) from None
    return _reference_from_bytes(data, param)


def reference_from_upload(upload: UploadedFile[bytes], index: int) -> ReferenceInput:
    param = f"image[{index}]"
    if upload.size is not None and upload.size > settings.BANANA_UPLOAD_MAX_BYTES:
        raise InvalidRequest(
            f"{param} is larger than {settings.BANANA_UPLOAD_MAX_BYTES // (1024 * 1024)} MB",
            param,
        )
    return _reference_from_bytes(upload.read(), param)


def _reference_from_bytes(data: bytes, param: str) -> ReferenceInput:
    try:
        processed = validate_upload(
            data,
            max_bytes=settings.BANANA_UPLOAD_MAX_BYTES,
            max_pixels=settings.BANANA_REFERENCE_MAX_PIXELS,
        )
    except ImageRejected as exc:
        raise InvalidRequest(f"{param}: {exc.message}", param) from None
    return ReferenceInput(
        content=processed.content,
        extension=processed.extension,
        content_type=processed.content_type,
        width=processed.width,
        height=processed.height,
    )


def references_from_strings(values: object) -> list[ReferenceInput]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise InvalidRequest("images must be a list of strings", "images")
    if len(values) > upstream.MAX_REFERENCE_IMAGES:
        raise InvalidRequest(
            f"at most {upstream.MAX_REFERENCE_IMAGES} images are allowed", "images"
        )
    return [reference_from_string(value, i) for i, value in enumerate(values)]


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
) -> list[Generation]:
    """`count` generations for the key's member, each its own task and hold, all or none
    (one job): a refusal (credits.CreditError, including the key's budget) rolls every one
    back. A model or size the member may not use is ModelNotAvailable, nothing spent."""
    try:
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
        )
    except members.ModelNotAllowed as exc:
        raise ModelNotAvailable(str(exc), "model") from None


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
    """The key's generation after asking the upstream about it, when a check is due (as
    read: most queries write nothing), else as it is."""
    if services.looked_due(generation) and services.refresh_from_upstream(generation.pk):
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
    """One look at waited-for generations: ask the upstream about those not final whose
    check is due (`services.refresh_from_upstream`, coalesced per generation across
    processes; a webhook or the reconciler may finish them first), and return the ids of
    those settled (final, images kept)."""
    rows = load(generation_ids)
    refreshed = False
    for generation in rows:
        if services.looked_due(generation):
            refreshed |= services.refresh_from_upstream(generation.pk)
    if refreshed:
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
