"""An OpenAI-compatible images API for a member's personal key: `POST /v1/images/
generations`, `POST /v1/images/edits` and `GET /v1/models`, so that tools that speak
OpenAI (the `openai` package, Open WebUI, LibreChat, n8n…) generate with the member's
credits by changing only their base URL and key.

Each of the `n` images is its own generation (task and hold), all submitted or none. The
call waits until the images are kept (BANANA_API_WAIT_SECONDS at most), then answers them
as `b64_json` (the default, as for OpenAI's GPT image models) or as signed `url`s of ours.

Errors have OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, and the
statuses (error.type / error.code) are:

- 400 invalid_request_error / invalid_value, model_not_found…: bad parameters, or a model
  not on offer or not allowed for the key;
- 401 invalid_request_error / invalid_api_key: key missing, unknown, revoked, or its
  member deactivated;
- 402 insufficient_quota / insufficient_credits, key_budget_exceeded, team_cap_reached:
  credits; nothing was submitted;
- 429 requests / rate_limit_exceeded, server_busy: the member's limits (in flight, per
  minute), or too many waiting calls on this server; `Retry-After` says when to retry;
- 502 server_error / generation_failed: every image failed (failed holds are released);
- 504 timeout / generation_timeout: not ready in time; the generations go on and stay in
  the member's history.

502 and 504 carry `x-should-retry: false`: the `openai` package would otherwise resend the
call, and a resend is a new, paid generation.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.http import require_GET, require_POST

from generations import credits
from generations.api import jobs, keys, task_bodies
from generations.api.views import base_url, bearer_key_view, read_json, request_key
from generations.models import ApiKey, Generation
from generations.services import ReferenceInput

GENERATION_BODY_LIMIT = 1024 * 1024  # JSON without images: a prompt and a few options
RESPONSE_FORMATS = ("b64_json", "url")
MODEL_CREATED = 1_700_000_000  # OpenAI's model objects carry a creation time; ours are config


def openai_error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status=status,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def invalid_key() -> JsonResponse:
    return openai_error(
        401,
        "Incorrect API key provided. Create a personal key on the API keys page.",
        code="invalid_api_key",
        headers={"WWW-Authenticate": 'Bearer realm="banana-studio"'},
    )


def invalid(exc: jobs.InvalidRequest) -> JsonResponse:
    return openai_error(400, str(exc), code=exc.code, param=exc.param)


def refused(exc: credits.CreditError) -> JsonResponse:
    if isinstance(exc, credits.TeamCapReached):
        return openai_error(402, str(exc), kind="insufficient_quota", code="team_cap_reached")
    if isinstance(exc, credits.LimitReached):
        return openai_error(
            429,
            str(exc),
            kind="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": "30"},
        )
    code = "key_budget_exceeded" if isinstance(exc, keys.KeyBudgetReached) else None
    return openai_error(
        402, str(exc), kind="insufficient_quota", code=code or "insufficient_credits"
    )


@bearer_key_view
@require_GET
def models(request: HttpRequest) -> HttpResponse:
    key = request_key(request)
    if key is None:
        return invalid_key()
    data = [
        {"id": m.id, "object": "model", "created": MODEL_CREATED, "owned_by": "banana-studio"}
        for m in keys.models_for(key)
    ]
    return JsonResponse({"object": "list", "data": data})


def _default_model(key: ApiKey) -> str:
    options = keys.models_for(key)
    return options[0].id if options else ""


def _common_options(key: ApiKey, fields: dict[str, Any]) -> dict[str, Any]:
    """prompt, model, n, size and response_format, checked; the rest (quality, style,
    user, output_format…) is accepted and ignored."""
    if fields.get("stream") in (True, "true"):
        raise jobs.InvalidRequest("stream is not supported", "stream")
    prompt = jobs.check_prompt(fields.get("prompt"))
    model_field = fields.get("model")
    model = jobs.check_model(key, model_field if model_field else _default_model(key))
    count = jobs.check_count(fields.get("n"))
    aspect_ratio, image_size = jobs.size_choice(model, fields.get("size"))
    response_format = fields.get("response_format") or "b64_json"
    if response_format not in RESPONSE_FORMATS:
        raise jobs.InvalidRequest("response_format must be 'b64_json' or 'url'", "response_format")
    return {
        "prompt": prompt,
        "model": model,
        "count": count,
        "aspect_ratio": aspect_ratio,
        "image_size": image_size,
        "response_format": response_format,
    }


@bearer_key_view
@require_POST
def generations(request: HttpRequest) -> HttpResponse:
    key = request_key(request)
    if key is None:
        return invalid_key()
    try:
        body = read_json(request, GENERATION_BODY_LIMIT)
    except OverflowError:
        return openai_error(413, "The request body is too large.", code="request_too_large")
    except ValueError:
        return openai_error(400, "The body is not valid JSON.", code="invalid_json")
    if not isinstance(body, dict):
        return openai_error(400, "The body must be a JSON object.", code="invalid_json")
    try:
        options = _common_options(key, body)
    except jobs.InvalidRequest as exc:
        return invalid(exc)
    return _make_and_wait(request, key, options, references=[])


@bearer_key_view
@require_POST
def edits(request: HttpRequest) -> HttpResponse:
    """Multipart, like OpenAI's: `image[]` (or `image`), one to four files, and the
    options as form fields."""
    key = request_key(request)
    if key is None:
        return invalid_key()
    try:
        fields: dict[str, Any] = {name: request.POST.get(name) for name in request.POST}
        uploads = request.FILES.getlist("image[]") + request.FILES.getlist("image")
        masks = request.FILES.getlist("mask")
    except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent):
        return invalid(
            jobs.InvalidRequest(
                f"The multipart body could not be read (at most {jobs.MAX_IMAGES_PER_REQUEST} "
                "images, and a few fields).",
                "image",
            )
        )
    if fields.get("n") not in (None, ""):
        try:
            fields["n"] = int(fields["n"])
        except ValueError:
            return invalid(jobs.InvalidRequest("n must be an integer from 1 to 4", "n"))
    try:
        if masks:
            raise jobs.InvalidRequest("masks are not supported", "mask")
        if not uploads:
            raise jobs.InvalidRequest("image is required: one to four image files", "image")
        if len(uploads) > jobs.MAX_IMAGES_PER_REQUEST:
            raise jobs.InvalidRequest(
                f"at most {jobs.MAX_IMAGES_PER_REQUEST} images are allowed", "image"
            )
        options = _common_options(key, fields)
        references = [jobs.reference_from_upload(u, i) for i, u in enumerate(uploads)]
    except jobs.InvalidRequest as exc:
        return invalid(exc)
    return _make_and_wait(request, key, options, references=references)


def _make_and_wait(
    request: HttpRequest, key: ApiKey, options: dict[str, Any], *, references: list[ReferenceInput]
) -> HttpResponse:
    if not jobs.WAIT_SLOTS.take():
        return openai_error(
            429,
            "This server is waiting on too many images right now; retry shortly.",
            kind="requests",
            code="server_busy",
            headers={"Retry-After": "5"},
        )
    try:
        try:
            made = jobs.submit(
                key,
                model=options["model"],
                prompt=options["prompt"],
                references=references,
                aspect_ratio=options["aspect_ratio"],
                image_size=options["image_size"],
                base_url=base_url(request),
                count=options["count"],
            )
        except jobs.InvalidRequest as exc:
            return invalid(exc)
        except credits.CreditError as exc:
            return refused(exc)
        rows, settled = jobs.wait_until_settled(
            [g.pk for g in made], timeout=settings.BANANA_API_WAIT_SECONDS
        )
    finally:
        jobs.WAIT_SLOTS.give_back()
    if not settled:
        ids = ", ".join(str(g.pk) for g in made)
        return openai_error(
            504,
            f"The images were not ready within {settings.BANANA_API_WAIT_SECONDS:g} s. "
            f"They are still being made and will appear in your history "
            f"(task ids: {ids}; GET /api/task/query?task_id=… tells their state).",
            kind="timeout",
            code="generation_timeout",
            headers={"x-should-retry": "false"},
        )
    return _images_response(rows, options["response_format"], base_url(request))


def _images_response(rows: list[Generation], response_format: str, base: str) -> HttpResponse:
    data: list[dict[str, str]] = []
    for generation in rows:
        for result in task_bodies.stored_results(generation):
            if response_format == "url":
                data.append({"url": task_bodies.result_url(result, base)})
            else:
                with result.file.open("rb") as fh:
                    data.append({"b64_json": base64.b64encode(fh.read()).decode("ascii")})
    if not data:
        reasons = sorted({g.error_message or task_bodies.NO_IMAGE_KEPT for g in rows})
        return openai_error(
            502,
            "The image service made no image: " + " / ".join(reasons),
            kind="server_error",
            code="generation_failed",
            headers={"x-should-retry": "false"},
        )
    body = {"created": int(time.time()), "data": data}
    return HttpResponse(json.dumps(body), content_type="application/json")
