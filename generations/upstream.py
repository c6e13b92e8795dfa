"""Client for the upstream image-generation API (the reseller's async task API).

This module is the ONLY code in the project that talks to the upstream. Everything else
uses :func:`submit`, :func:`query` and :func:`parse_task_state` and the exceptions below.

Configuration is read from ``django.conf.settings`` at call time:

``BANANA_API_BASE_URL``     e.g. ``"https://api.defapi.org"`` (required)
``BANANA_API_KEY``          the team key, ``dk-...`` (required; never logged)
``BANANA_API_TIMEOUT``      ``(connect, read)`` seconds
``BANANA_API_MAX_RETRIES``  retries after the first attempt
``BANANA_API_BACKOFF``      backoff base in seconds (full jitter)

Retry policy (contract sections 5 and 6), stated by one urllib3 ``Retry`` per endpoint on
the session's ``HTTPAdapter`` (see ``_retry_policy``):

* 5xx answers are retried with exponential backoff and full jitter, for both endpoints.
* Connection failures where the request was certainly NOT sent (connect refused, connect
  timeout, DNS failure) are retried for both endpoints.
* 4xx answers are never retried; 3xx answers are not followed; Retry-After is ignored.
* ``query`` is idempotent, so read timeouts and connections dropped after sending are
  retried too.
* ``submit`` is not idempotent (it spends credits): a read timeout or a connection dropped
  after the request was sent raises :class:`SubmitOutcomeUnknown` at once, without resending.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

import requests
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.util.retry import Retry

logger = logging.getLogger("generations.upstream")

__all__ = [
    "FAILED",
    "FINAL_STATUSES",
    "IN_PROGRESS",
    "PENDING",
    "SUBMITTED",
    "SUCCESS",
    "BadRequest",
    "SubmitOutcomeUnknown",
    "TaskNotFound",
    "TaskState",
    "Unauthorized",
    "Unavailable",
    "UpstreamError",
    "longest_submit",
    "parse_task_state",
    "query",
    "submit",
]

PENDING, SUBMITTED, IN_PROGRESS, SUCCESS, FAILED = (
    "pending",
    "submitted",
    "in_progress",
    "success",
    "failed",
)
KNOWN_STATUSES = frozenset({PENDING, SUBMITTED, IN_PROGRESS, SUCCESS, FAILED})
FINAL_STATUSES = frozenset({SUCCESS, FAILED})

SUBMIT_PATH = "/api/image/gen"
QUERY_PATH = "/api/task/query"

MAX_REFERENCE_IMAGES = 4  # contract section 1

MAX_BACKOFF_SECONDS = 20.0  # cap of a single backoff sleep
KEPT_CONNECTIONS = 64  # per endpoint, per process

# =========================================================================================
# ASSUMPTIONS ABOUT THE OPEN POINTS OF THE CONTRACT  (docs/upstream-api.md)
#
# The vendor page does not document everything. Every guess this client makes is listed
# here and implemented in the constants just below and in ``parse_task_state`` /
# ``_parse_envelope`` -- correct them here once a real response has been seen.
#
# A1  Query success body is the usual envelope {"code": 0, "message": ..., "data": {...}}
#     and "data" carries the callback fields (task_id, status, result, consumed,
#     status_reason), maybe plus "created_at" and others. Unknown fields are ignored;
#     "created_at" is not used.
# A2  "code": 0 (int, or the string "0") means success. A missing "code" on an HTTP 200 is
#     tolerated when "data" is an object. Any other code with HTTP 200 is an error:
#     Unauthorized when code == 401 (the query endpoint's 401 code), else Unavailable.
# A3  "consumed" comes as a decimal string ("0.500000") or as a JSON number (0.5);
#     anything else (missing, null, bool, garbage, NaN, negative) becomes None.
# A4  "result" may be null or missing. Items are objects carrying "image" (an https URL
#     or a base64 data: URI; http is accepted for emulators/dev) or "text" (the model
#     answered in words). A bare string item is treated as an image. Items with other
#     URL schemes are dropped with a warning.
# A5  status "success" whose results hold no image is a FAILED generation; its
#     error_message is the text results joined (or a fixed sentence when there are none).
# A6  Status strings are compared after strip(), lower() and turning spaces/hyphens into
#     underscores. An unknown status is NOT final: status = SUBMITTED, raw_status keeps
#     the original string, and a warning is logged.
# A7  status_reason is {"message": str|null}; null, missing, a bare string are tolerated.
#     For FAILED, error_message = status_reason.message, else the text results, else "".
# A8  A query "data" without task_id gets the queried id; a different task_id is an error.
# A9  A 404 from the query endpoint whose body is a JSON object is "task not found"
#     (TaskNotFound); a 404 with a non-JSON body means a wrong base URL (Unavailable).
#     Right after submit the upstream briefly answers "task not found" (contract
#     section 7): ``query`` still raises TaskNotFound -- the CALLER decides how long to
#     tolerate it (e.g. a grace period of some seconds after submit).
# A10 403 is treated like 401 (key/account refused); 429 is Unavailable, not retried here.
#     Other 4xx are BadRequest. 3xx (redirects are not followed) is Unavailable.
# A11 Optional submit parameters from public clients (section 7): aspect_ratio in
#     ACCEPTED_ASPECT_RATIOS, image_size in IMAGE_SIZES (sent lower-case); they are only sent when
#     given. Reference images may be http(s) URLs or data: URIs.
# A12 A submit answered HTTP 200 + code 0 without a usable task_id, or with a body that is
#     not JSON, may still have created (and billed) a task: SubmitOutcomeUnknown.
# =========================================================================================
# In the order they are offered to members ("auto" is accepted but not offered).
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
ACCEPTED_ASPECT_RATIOS = frozenset({"auto", *ASPECT_RATIOS})
# Each image size's long side in pixels: what OpenAI-style "WxH" sizes are matched against.
IMAGE_SIZE_PIXELS = {"1k": 1024, "2k": 2048, "4k": 4096}
IMAGE_SIZES = tuple(IMAGE_SIZE_PIXELS)
_IMAGE_RESULT_PREFIXES = ("https://", "http://", "data:image/")
_REFERENCE_IMAGE_PREFIXES = ("https://", "http://", "data:")
_NO_IMAGE_MESSAGE = "The upstream reported success but returned no image."


# -----------------------------------------------------------------------------------------
# Exceptions
# -----------------------------------------------------------------------------------------
class UpstreamError(Exception):
    """Base class. ``str(exc)`` is a developer message; ``user_message`` is for end users.

    Neither ever contains the API key, URLs or the text of a library exception.
    """

    permanent: bool = False
    default_user_message = _("The image service could not handle the request.")

    def __init__(
        self,
        message: str = "",
        *,
        user_message: Any = None,
        permanent: bool | None = None,
        status_code: int | None = None,
        method: str = "",
        path: str = "",
        task_id: str = "",
    ) -> None:
        super().__init__(message)
        self.user_message = (
            user_message if user_message is not None else (self.default_user_message)
        )
        if permanent is not None:
            self.permanent = permanent
        self.status_code = status_code
        self.method = method
        self.path = path
        self.task_id = task_id

    def __reduce__(self) -> tuple[Any, ...]:  # keep keyword-only attributes when pickled
        return (_rebuild_error, (self.__class__, self.args, self.__dict__))


def _rebuild_error(
    cls: type[UpstreamError], args: tuple[Any, ...], state: dict[str, Any]
) -> UpstreamError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class ErrorContext(TypedDict):
    """Where an error happened, passed on to every UpstreamError raised for a request."""

    method: str
    path: str
    task_id: str


class BadRequest(UpstreamError):
    """400 (or rejected locally before sending). ``detail`` is the upstream's reason."""

    permanent = True
    default_user_message = _("The image service rejected the request. Please check the input.")

    def __init__(self, message: str = "", *, detail: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.detail = detail or message


class Unauthorized(UpstreamError):
    """401: the team key is missing, invalid, expired, revoked, or the balance is too low."""

    permanent = True
    default_user_message = _(
        "The studio's image service account was refused. Please tell an administrator."
    )


class TaskNotFound(UpstreamError):
    """404 on query. May be transient right after submit; see assumption A9."""

    permanent = True
    default_user_message = _("The image service does not know this generation.")


class Unavailable(UpstreamError):
    """5xx, timeouts, connection errors, unexpected bodies, non-zero code with HTTP 200."""

    permanent = False
    default_user_message = _("The image service is unavailable right now. Please try again later.")


class SubmitOutcomeUnknown(Unavailable):
    """The submit may have reached the upstream; the caller must NOT resend it."""

    permanent = True  # resending the same request could pay twice
    default_user_message = _(
        "We could not confirm whether the image service received this request. "
        "It was not sent again, to avoid paying twice."
    )


# -----------------------------------------------------------------------------------------
# Result type
# -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskState:
    task_id: str
    status: str
    raw_status: str
    images: tuple[str, ...] = ()
    consumed: Decimal | None = None
    error_message: str = ""

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


# -----------------------------------------------------------------------------------------
# Public API
# -----------------------------------------------------------------------------------------
def submit(
    *,
    model: str,
    prompt: str,
    images: Sequence[str] = (),
    callback_url: str | None = None,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
) -> str:
    """Create a generation task and return its task id.

    Raises BadRequest (locally, before any network call, for invalid parameters),
    Unauthorized, Unavailable, or SubmitOutcomeUnknown (do not resend!).
    """
    payload = _build_submit_payload(
        model=model,
        prompt=prompt,
        images=images,
        callback_url=callback_url,
        aspect_ratio=aspect_ratio,
        image_size=image_size,
    )
    response = _request("POST", SUBMIT_PATH, json_body=payload, idempotent=False)
    # A12: an unreadable 200 may still have created the task -> SubmitOutcomeUnknown.
    data = _parse_envelope(
        response, method="POST", path=SUBMIT_PATH, unreadable=SubmitOutcomeUnknown
    )
    task_id = data.get("task_id") if isinstance(data, Mapping) else None
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str) or not task_id.strip():
        logger.error(
            "upstream POST %s: HTTP 200 without a task_id; outcome unknown, not resending",
            SUBMIT_PATH,
        )
        raise SubmitOutcomeUnknown(
            "Submit answered 200 without a task_id",
            status_code=response.status_code,
            method="POST",
            path=SUBMIT_PATH,
        )
    task_id = task_id.strip()
    logger.info("upstream POST %s: created task %s", SUBMIT_PATH, task_id)
    return task_id


def longest_submit() -> float:
    """The longest one `submit` can take, in seconds: every attempt its retry policy grants,
    each at most the connect and read timeouts, plus the longest backoff between them.
    A generation still being sent after this lost its sender."""
    _base_url, _api_key, timeout, max_retries, backoff = _config()
    connect, read = (timeout, timeout) if isinstance(timeout, int | float) else timeout
    waits = sum(min(MAX_BACKOFF_SECONDS, backoff * 2**n) for n in range(max_retries))
    return float((max_retries + 1) * (float(connect) + float(read)) + waits)


def query(task_id: str) -> TaskState:
    """Return the current state of a task.

    Raises TaskNotFound on 404. Right after submit the upstream is known to answer
    "task not found" for a few seconds (contract section 7): this function does not hide
    that, the caller decides how long to tolerate it.
    """
    if not isinstance(task_id, str) or not task_id.strip():
        raise BadRequest("task_id is required", detail="task_id is required")
    task_id = task_id.strip()
    response = _request("GET", QUERY_PATH, params={"task_id": task_id}, task_id=task_id)
    data = _parse_envelope(response, method="GET", path=QUERY_PATH, task_id=task_id)
    if not isinstance(data, Mapping):
        raise _unexpected_query_answer(response, task_id, "data is not an object")
    if not data.get("task_id"):  # A8
        data = {**data, "task_id": task_id}
    state = parse_task_state(data)
    if state.task_id != task_id:
        raise _unexpected_query_answer(response, task_id, "it is about another task")
    return state


def _unexpected_query_answer(response: requests.Response, task_id: str, what: str) -> Unavailable:
    _log_unexpected("GET", QUERY_PATH, response.status_code, task_id, what)
    return Unavailable(
        f"Unexpected query answer: {what}",
        status_code=response.status_code,
        method="GET",
        path=QUERY_PATH,
        task_id=task_id,
    )


def parse_task_state(data: Mapping[str, Any]) -> TaskState:
    """Parse a query ``data`` object or a callback payload (assumptions A1-A8 above).

    Raises Unavailable when ``data`` is not an object or lacks task_id / status.
    """
    if not isinstance(data, Mapping):
        raise Unavailable(f"Task payload is not an object but {type(data).__name__}")

    task_id = data.get("task_id")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str) or not task_id.strip():
        raise Unavailable("Task payload has no task_id")
    task_id = task_id.strip()

    raw_status = data.get("status")
    if not isinstance(raw_status, str) or not raw_status.strip():
        raise Unavailable("Task payload has no status", task_id=task_id)
    status = raw_status.strip().lower().replace("-", "_").replace(" ", "_")  # A6
    if status not in KNOWN_STATUSES:
        logger.warning(
            "upstream task %s: unknown status %r, treated as not final", task_id, raw_status
        )
        status = SUBMITTED

    images, texts = _parse_results(data.get("result"), task_id)  # A4
    consumed = _parse_consumed(data.get("consumed"), task_id)  # A3
    reason = _parse_reason(data.get("status_reason"))  # A7

    error_message = ""
    if status == SUCCESS and not images:  # A5
        status = FAILED
        error_message = "\n".join(texts) or reason or _NO_IMAGE_MESSAGE
        logger.warning("upstream task %s: success without images, reported as failed", task_id)
    elif status == FAILED:
        error_message = reason or "\n".join(texts)

    return TaskState(
        task_id=task_id,
        status=status,
        raw_status=raw_status,
        images=tuple(images),
        consumed=consumed,
        error_message=error_message,
    )


# -----------------------------------------------------------------------------------------
# Parsing helpers
# -----------------------------------------------------------------------------------------
def _parse_results(result: Any, task_id: str) -> tuple[list[str], list[str]]:
    images: list[str] = []
    texts: list[str] = []
    if result is None:
        return images, texts
    if isinstance(result, Mapping):  # a single item instead of a list
        result = [result]
    if not isinstance(result, list):
        logger.warning("upstream task %s: ignoring result of type %s", task_id, type(result))
        return images, texts
    for item in result:
        value: Any = None
        if isinstance(item, str):
            value = item
        elif isinstance(item, Mapping):
            value = item.get("image")
            text = item.get("text")
            if isinstance(text, str) and text.strip():
                texts.append(text.strip())
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if value.lower().startswith(_IMAGE_RESULT_PREFIXES):
            images.append(value)
        else:
            logger.warning("upstream task %s: dropping image with unexpected scheme", task_id)
    return images, texts


def _parse_consumed(value: Any, task_id: str) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = None
        if amount is not None and amount.is_finite() and amount >= 0:
            return amount
    logger.warning("upstream task %s: unparseable consumed value %r", task_id, value)
    return None


def _parse_reason(reason: Any) -> str:
    if isinstance(reason, Mapping):
        reason = reason.get("message")
    if isinstance(reason, str):
        return reason.strip()
    return ""


def _parse_envelope(
    response: requests.Response,
    *,
    method: str,
    path: str,
    task_id: str = "",
    unreadable: type[Unavailable] = Unavailable,
) -> Any:
    """Return ``data`` of a 200 answer, or raise. Only called for HTTP 200 (A2)."""
    body = _json_or_none(response)
    if not isinstance(body, Mapping):
        _log_unexpected(method, path, response.status_code, task_id, "body is not a JSON object")
        raise unreadable(
            "Upstream answered 200 with a body that is not a JSON object",
            status_code=response.status_code,
            method=method,
            path=path,
            task_id=task_id,
        )
    code = body.get("code", None)
    if code is None and isinstance(body.get("data"), Mapping):
        return body["data"]
    if code in (0, "0") and not isinstance(code, bool):
        return body.get("data")
    message = _short(body.get("message"))
    logger.error(
        "upstream %s %s: HTTP 200 with code %r (%s), task=%s",
        method,
        path,
        code,
        message,
        task_id or "-",
    )
    if code in (401, "401"):
        raise Unauthorized(
            f"Upstream refused the API key (code 401): {message}",
            status_code=response.status_code,
            method=method,
            path=path,
            task_id=task_id,
        )
    raise Unavailable(
        f"Upstream answered 200 with error code {code!r}: {message}",
        status_code=response.status_code,
        method=method,
        path=path,
        task_id=task_id,
    )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else ("" if value is None else repr(value))
    text = _scrub(text)
    return text if len(text) <= limit else text[:limit] + "..."


# -----------------------------------------------------------------------------------------
# Validation
# -----------------------------------------------------------------------------------------
def _invalid(detail: str, user_message: Any) -> BadRequest:
    return BadRequest(f"Invalid parameters: {detail}", detail=detail, user_message=user_message)


def _build_submit_payload(
    *,
    model: str,
    prompt: str,
    images: Sequence[str],
    callback_url: str | None,
    aspect_ratio: str | None,
    image_size: str | None,
) -> dict[str, Any]:
    if not isinstance(model, str) or not model.strip():
        raise _invalid("model is required", _("Please choose a model."))
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("prompt is required", _("Please enter a prompt."))
    if images is None:
        images = ()
    if isinstance(images, str) or not isinstance(images, Sequence):
        raise _invalid("images must be a list of strings", _("The reference images are invalid."))
    if len(images) > MAX_REFERENCE_IMAGES:
        raise _invalid(
            f"at most {MAX_REFERENCE_IMAGES} images are allowed",
            _("At most %(max)d reference images are allowed.") % {"max": MAX_REFERENCE_IMAGES},
        )
    for image in images:
        if not isinstance(image, str) or not image.strip().lower().startswith(
            _REFERENCE_IMAGE_PREFIXES
        ):
            raise _invalid(
                "images must be http(s) URLs or data: URIs",
                _("The reference images are invalid."),
            )
    payload: dict[str, Any] = {"model": model.strip(), "prompt": prompt}
    if images:
        payload["images"] = [image.strip() for image in images]
    if callback_url is not None:
        if not isinstance(callback_url, str) or not callback_url.lower().startswith(
            ("https://", "http://")
        ):
            raise _invalid("callback_url must be an http(s) URL", _("The callback URL is invalid."))
        payload["callback_url"] = callback_url
    if aspect_ratio is not None:
        if (
            not isinstance(aspect_ratio, str)
            or aspect_ratio.strip().lower() not in ACCEPTED_ASPECT_RATIOS
        ):
            raise _invalid("unsupported aspect_ratio", _("This aspect ratio is not supported."))
        payload["aspect_ratio"] = aspect_ratio.strip().lower()
    if image_size is not None:
        if not isinstance(image_size, str) or image_size.strip().lower() not in IMAGE_SIZES:
            raise _invalid("unsupported image_size", _("This image size is not supported."))
        payload["image_size"] = image_size.strip().lower()
    return payload


# -----------------------------------------------------------------------------------------
# Transport
# -----------------------------------------------------------------------------------------
# Retries happen inside urllib3: each endpoint's HTTPAdapter carries one Retry object (see
# _retry_policy) that states the whole policy. This module sends ONE logical request and
# maps the final answer (or the final exception) to the typed errors above.
#
# The sessions keep connection pooling across calls. trust_env stays on, as before: the
# *_PROXY variables are honoured because production may need a proxy.


class _UpstreamRetry(Retry):
    """urllib3's Retry with full jitter, logging every retry it grants.

    urllib3's own formula waits nothing before the first retry and adds its jitter ON TOP
    of the exponential delay; full jitter instead waits a random time between 0 and the
    exponential delay: retry n (from 1) waits uniform(0, min(backoff_max,
    backoff_factor * 2 ** (n - 1))).
    """

    def get_backoff_time(self) -> float:
        retry_number = len(self.history)  # this retry's number: one history entry per failure
        if retry_number == 0:
            return 0.0
        ceiling = min(self.backoff_max, self.backoff_factor * 2 ** (retry_number - 1))
        return random.uniform(0, ceiling)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> _UpstreamRetry:
        # Raises (MaxRetryError or the error itself) when this failure gets no retry.
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        failed = len(retry.history)
        remaining = retry.total if isinstance(retry.total, int) else 0
        if response is not None:
            cause = f"HTTP {response.status}"
        else:
            cause = f"{type(error).__name__} ({_short(str(error))})"
        logger.warning(
            "upstream %s %s: %s, attempt %d/%d; retrying",
            method,
            _short(url or ""),  # path and query (task_id); never headers
            cause,
            failed,
            failed + remaining + 1,
        )
        return retry


def _retry_policy(max_retries: int, backoff: float, *, idempotent: bool) -> Retry:
    """The retry policy of one endpoint (module docstring; contract sections 5 and 6)."""
    # Once the request may have been sent (read timeout, connection dropped, TLS error...),
    # only an idempotent request may be sent again.
    after_sending = None if idempotent else 0
    return _UpstreamRetry(
        total=max_retries,  # retries after the first attempt, whatever their causes
        connect=None,  # not sent (refused, connect timeout, DNS): retried within total
        read=after_sending,  # read timeout, connection dropped after sending
        other=after_sending,  # any other error once connected, e.g. TLS
        status=None,
        status_forcelist=frozenset(range(500, 600)),  # 4xx are never retried
        allowed_methods=frozenset({"GET", "POST"}),  # urllib3 leaves POST out by default
        raise_on_status=False,  # the last 5xx answer is returned and mapped below
        respect_retry_after_header=False,  # 429 is not retried, Retry-After is ignored (A10)
        redirect=False,  # 3xx answers are returned as they are (A10)
        backoff_factor=backoff,
        backoff_max=MAX_BACKOFF_SECONDS,
    )


@functools.lru_cache(maxsize=8)
def _session(max_retries: int, backoff: float, *, idempotent: bool) -> requests.Session:
    """A pooled session whose adapter carries the retry policy (one per configuration)."""
    session = requests.Session()
    # As many kept connections as a worker has threads asking at once (requests keeps 10,
    # and opens and drops the rest with a warning each).
    adapter = HTTPAdapter(
        max_retries=_retry_policy(max_retries, backoff, idempotent=idempotent),
        pool_maxsize=KEPT_CONNECTIONS,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _config() -> tuple[str, str, Any, int, float]:
    # The defaults live in settings.py, the one place they are defined.
    base_url = settings.BANANA_API_BASE_URL or ""
    api_key = settings.BANANA_API_KEY or ""
    timeout = tuple(settings.BANANA_API_TIMEOUT)
    max_retries = max(0, int(settings.BANANA_API_MAX_RETRIES))
    backoff = max(0.0, float(settings.BANANA_API_BACKOFF))
    return str(base_url).rstrip("/"), str(api_key), timeout, max_retries, backoff


def _scrub(text: str) -> str:
    """Remove the API key from text that is about to be logged or put in a message."""
    key = str(getattr(settings, "BANANA_API_KEY", "") or "")
    if key and key in text:
        text = text.replace(key, "***")
    return text


def _root_cause(exc: requests.RequestException) -> BaseException:
    """urllib3's error inside requests' exception (unwrapping MaxRetryError)."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError) and inner.reason is not None:
        return inner.reason
    return inner if isinstance(inner, BaseException) else exc


def _request_was_not_sent(exc: requests.RequestException) -> bool:
    """True only when the connection was never established, so the upstream cannot have
    seen the request: the same rule as urllib3's Retry uses to count connect retries."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    inner = exc.args[0] if exc.args else None
    if not isinstance(inner, MaxRetryError):
        return False
    reason = inner.reason
    if isinstance(reason, Urllib3ProxyError):
        reason = reason.original_error
    return isinstance(reason, ConnectTimeoutError)  # includes NewConnectionError / DNS


def _log_unexpected(method: str, path: str, status: int | None, task_id: str, what: str) -> None:
    logger.error("upstream %s %s: HTTP %s, %s, task=%s", method, path, status, what, task_id or "-")


def _attempt_number(response: requests.Response) -> int:
    """Which attempt produced this answer (urllib3 keeps one history entry per retry)."""
    retries = getattr(response.raw, "retries", None)
    return len(getattr(retries, "history", ())) + 1


@sensitive_variables("api_key", "headers")
def _request(
    method: str,
    path: str,
    *,
    json_body: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    idempotent: bool = True,
    task_id: str = "",
) -> requests.Response:
    """Send one logical request (urllib3 retries it per _retry_policy); return a 200
    response or raise."""
    base_url, api_key, timeout, max_retries, backoff = _config()
    context = ErrorContext(method=method, path=path, task_id=task_id)
    if not base_url:
        logger.error("upstream %s %s: BANANA_API_BASE_URL is not configured", method, path)
        raise Unavailable("BANANA_API_BASE_URL is not configured", permanent=True, **context)
    if not api_key:
        logger.error("upstream %s %s: BANANA_API_KEY is not configured", method, path)
        raise Unauthorized("BANANA_API_KEY is not configured", **context)
    if not api_key.isprintable() or any(char.isspace() for char in api_key):
        # requests would put the raw header value into its InvalidHeader message.
        logger.error("upstream %s %s: BANANA_API_KEY contains whitespace", method, path)
        raise Unauthorized("BANANA_API_KEY is malformed", **context)
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    attempts = max_retries + 1
    tid = task_id or "-"

    try:
        response = _session(max_retries, backoff, idempotent=idempotent).request(
            method,
            base_url + path,
            params=params,
            json=json_body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        kind = type(_root_cause(exc)).__name__
        # requests' text holds URLs (and, for InvalidHeader, header values): log only.
        detail = "" if isinstance(exc, requests.exceptions.InvalidHeader) else _short(str(exc))
        if isinstance(
            exc,
            requests.exceptions.InvalidURL
            | requests.exceptions.MissingSchema
            | requests.exceptions.InvalidSchema
            | requests.exceptions.InvalidHeader,
        ):
            logger.error(
                "upstream %s %s: invalid request configuration (%s: %s), task=%s",
                method,
                path,
                kind,
                detail,
                tid,
            )
            raise Unavailable(
                f"Invalid upstream configuration ({kind})", permanent=True, **context
            ) from None
        if not idempotent and not _request_was_not_sent(exc):
            logger.error(
                "upstream %s %s: %s after the request may have been sent (%s), task=%s; "
                "outcome unknown, NOT resending",
                method,
                path,
                kind,
                detail,
                tid,
            )
            raise SubmitOutcomeUnknown(
                f"{kind} after the request may have been sent; not resent", **context
            ) from None
        # MaxRetryError: urllib3 spent the retries. Anything else failed outside its loop
        # (e.g. while the body of an answer was being read) and was not retried.
        spent = isinstance(exc.args[0] if exc.args else None, MaxRetryError)
        how = f"after {attempts} attempt(s)" if spent else "not retried"
        logger.error(
            "upstream %s %s: %s (%s) %s, task=%s; giving up", method, path, kind, detail, how, tid
        )
        raise Unavailable(f"{kind} {how}", permanent=False, **context) from None

    status = response.status_code  # checked before the body is parsed
    if status == 200:
        return response
    attempt = _attempt_number(response)
    if 500 <= status < 600:  # urllib3 returns the last 5xx once the retries are spent
        logger.error(
            "upstream %s %s: HTTP %d, attempt %d/%d, task=%s; giving up",
            method,
            path,
            status,
            attempt,
            attempts,
            tid,
        )
        raise Unavailable(
            f"Upstream answered HTTP {status} after {attempt} attempt(s)",
            permanent=False,
            status_code=status,
            **context,
        )
    _raise_for_non_retryable(response, attempt=attempt, attempts=attempts, **context)
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_for_non_retryable(
    response: requests.Response,
    *,
    method: str,
    path: str,
    task_id: str,
    attempt: int,
    attempts: int,
) -> None:
    status = response.status_code
    body = _json_or_none(response)
    body = body if isinstance(body, Mapping) else None
    message = _short(body.get("message")) if body else ""
    detail = _short(body.get("detail") or body.get("message")) if body else ""
    context = ErrorContext(method=method, path=path, task_id=task_id)
    tid = task_id or "-"
    log_args = (method, path, status, message or "-", attempt, attempts, tid)
    log_format = "upstream %s %s: HTTP %d (%s), attempt %d/%d, task=%s; not retried"

    if status in (401, 403):
        logger.error(log_format, *log_args)
        raise Unauthorized(
            f"Upstream refused the API key (HTTP {status}): {message}",
            status_code=status,
            **context,
        )
    if status == 404 and path == QUERY_PATH and body is not None:
        logger.warning(log_format, *log_args)
        raise TaskNotFound(
            f"Upstream does not know task {task_id}: {message}", status_code=status, **context
        )
    if status == 404:
        logger.error(log_format, *log_args)
        raise Unavailable(
            f"Upstream endpoint {path} not found (HTTP 404)",
            permanent=True,
            status_code=status,
            **context,
        )
    if status == 429:
        logger.warning(log_format, *log_args)
        raise Unavailable(
            "Upstream is rate limiting (HTTP 429)", permanent=False, status_code=status, **context
        )
    if 400 <= status < 500:
        logger.warning(log_format, *log_args)
        raise BadRequest(
            f"Upstream rejected the request (HTTP {status}): {detail}",
            detail=detail,
            status_code=status,
            **context,
        )
    logger.error(log_format, *log_args)
    raise Unavailable(f"Unexpected upstream answer HTTP {status}", status_code=status, **context)
