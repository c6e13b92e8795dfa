"""An OpenAI-compatible images API for a member's personal key: `POST /v1/images/
generations`, `POST /v1/images/edits` and `GET /v1/models`, so that tools that speak
OpenAI (the `openai` package, Open WebUI, LibreChat, n8n…) generate with the member's
credits by changing only their base URL and key.

Each of the `n` images is its own generation (task and hold), all submitted or none. The
call waits until the images are kept (BANANA_API_WAIT_SECONDS at most), then answers them
as `b64_json` (the default, as for OpenAI's GPT image models) or as signed `url`s of ours
(the default for OpenAI's DALL·E names, which BANANA_OPENAI_MODEL_ALIASES maps to our
models), in the `output_format` asked. Requests and answers are the models of
generations/api/schemas.py.

Errors have OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, and the
statuses (error.type / error.code) are:

- 400 invalid_request_error / invalid_value, invalid_json, model_not_found…: bad
  parameters, a body that is not a JSON object, or a model not on offer or not allowed for
  the key;
- 413 invalid_request_error / request_too_large: the body is larger than allowed;
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
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.http import require_GET, require_POST

from generations import catalogue, credits, presets, upstream
from generations.api import bodies, jobs, keys, schemas, task_bodies
from generations.api.schemas import InvalidRequest
from generations.api.views import answer, base_url, bearer_key_view, read_json, request_key
from generations.models import ApiKey, Generation
from generations.services import ReferenceInput

GENERATION_BODY_LIMIT = 1024 * 1024  # JSON without images: a prompt and a few options
MODEL_CREATED = 1_700_000_000  # OpenAI's model objects carry a creation time; ours are config


def openai_error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body = schemas.OpenAIErrorBody(message=message, type=kind, param=param, code=code)
    response = answer(schemas.OpenAIError(error=body), status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def invalid_key() -> HttpResponse:
    return openai_error(
        401,
        "Incorrect API key provided. Create a personal key on the API keys page.",
        code="invalid_api_key",
        headers={"WWW-Authenticate": 'Bearer realm="banana-studio"'},
    )


def invalid(exc: InvalidRequest) -> HttpResponse:
    status = 404 if isinstance(exc, (schemas.ImageNotFound, schemas.NotFound)) else 400
    return openai_error(status, str(exc), code=exc.code, param=exc.param)


def refused(exc: credits.CreditError) -> HttpResponse:
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
        schemas.OpenAIModel(id=m.id, created=MODEL_CREATED, owned_by="banana-studio")
        for m in keys.models_for(key)
    ]
    return answer(schemas.OpenAIModelList(data=data))


@dataclass(frozen=True)
class Options:
    """An OpenAI call's options as ours."""

    prompt: str
    model: str
    count: int
    aspect_ratio: str
    image_size: str
    response_format: str
    output: task_bodies.Output
    # A style preset and library assets (issue 20): the references they add, the words sent.
    chosen: presets.Submit | None = None


def options_of(
    key: ApiKey, asked: schemas.OpenAIImageOptions, *, other_references: int = 0
) -> Options:
    """What the call asks, in our terms: the model (OpenAI's own names through their
    aliases), the nearest ratio and size, and the answer's form (OpenAI's default for the
    model named when `response_format` is not sent). A style preset's defaults fill the
    model, size and `n` the call did not send."""
    chosen = jobs.library_choice(
        key, asked.prompt, asked.preset, asked.library_assets, other_references=other_references
    )
    preset = chosen.preset
    model, alias = jobs.openai_model(key, asked.model or (preset.model if preset else None))
    aspect_ratio, image_size = jobs.size_choice(model, asked.size)
    if preset and asked.size in (None, "", "auto"):
        aspect_ratio = preset.aspect_ratio
        image_size = jobs.image_size_for(model, preset.image_size)
    count = asked.n or 1
    if preset and preset.count and "n" not in asked.model_fields_set:
        count = preset.count
    default_format = schemas.OPENAI_IMAGE_MODELS.get(alias or "", "b64_json")
    return Options(
        chosen=chosen,
        prompt=chosen.prompt,
        model=model,
        count=count,
        aspect_ratio=aspect_ratio,
        image_size=image_size,
        response_format=asked.response_format or default_format,
        output=task_bodies.Output(asked.output_format or "", asked.output_compression)
        if asked.output_format or asked.output_compression is not None
        else task_bodies.AS_KEPT,
    )


@bearer_key_view
@require_POST
def generations(request: HttpRequest) -> HttpResponse:
    key = request_key(request)
    if key is None:
        return invalid_key()
    try:
        body = read_json(request, GENERATION_BODY_LIMIT)
    except bodies.BodyTooLarge:
        return openai_error(413, "The request body is too large.", code="request_too_large")
    except bodies.MalformedBody:
        return openai_error(400, "The body is not valid JSON.", code="invalid_json")
    if not isinstance(body.fields, dict):
        return openai_error(400, "The body must be a JSON object.", code="invalid_json")
    try:
        options = options_of(key, schemas.parse(schemas.OpenAIImagesRequest, body.fields))
    except InvalidRequest as exc:
        return invalid(exc)
    return _make_and_wait(request, key, options, references=[])


@bearer_key_view
@require_POST
def edits(request: HttpRequest) -> HttpResponse:
    """Multipart, like OpenAI's: `image[]` (or `image`), one to four files, and the
    options as form fields (validated leniently: in a form, 2 arrives as "2")."""
    key = request_key(request)
    if key is None:
        return invalid_key()
    try:
        # A field sent twice is a list, which no option is: the schema refuses it.
        fields: dict[str, object] = {
            name: values[0] if len(values) == 1 else values for name, values in request.POST.lists()
        }
        uploads = request.FILES.getlist("image[]") + request.FILES.getlist("image")
        masks = request.FILES.getlist("mask")
    except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent):
        return invalid(
            InvalidRequest(
                "The multipart body could not be read (at most "
                f"{catalogue.MAX_IMAGES_PER_JOB} images, and a few fields).",
                "image",
            )
        )
    with bodies.workspace() as work:
        try:
            if masks:
                raise InvalidRequest("masks are not supported", "mask")
            model = schemas.OpenAIImageEditRequest
            assets = request.POST.getlist("library_assets") + request.POST.getlist(
                "library_assets[]"
            )
            fields.pop("library_assets[]", None)
            if assets:
                fields["library_assets"] = assets
            asked = schemas.parse(model, {**schemas.from_form(model, fields), "image": uploads})
            edit_of = jobs.edit_target(key, asked.image_id, "image_id")
            options = options_of(key, asked, other_references=len(uploads) + (edit_of is not None))
            if not uploads and edit_of is None:
                raise InvalidRequest(
                    f"image is required: one to {upstream.MAX_REFERENCE_IMAGES} image files, "
                    "or image_id",
                    "image",
                )
            references = [jobs.reference_from_upload(u, i, work) for i, u in enumerate(uploads)]
        except InvalidRequest as exc:
            return invalid(exc)
        return _make_and_wait(
            request, key, options, references=references, work=work, edit_of=edit_of
        )


def _make_and_wait(
    request: HttpRequest,
    key: ApiKey,
    options: Options,
    *,
    references: list[ReferenceInput],
    work: bodies.Workspace | None = None,
    edit_of: Generation | None = None,
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
            chosen = options.chosen
            made = jobs.submit(
                key,
                model=options.model,
                prompt=options.prompt,
                references=(chosen.references if chosen else []) + references,
                preset=chosen.preset if chosen else None,
                member_prompt=chosen.member_prompt if chosen else "",
                aspect_ratio=options.aspect_ratio,
                image_size=options.image_size,
                base_url=base_url(request),
                count=options.count,
                edit_of=edit_of,
            )
        except InvalidRequest as exc:
            return invalid(exc)
        except credits.CreditError as exc:
            return refused(exc)
        if work is not None:
            work.clear()  # the references are stored: nothing to keep while waiting
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
    return _images_response(rows, options, base_url(request))


def _images_response(rows: list[Generation], options: Options, base: str) -> HttpResponse:
    output = options.output
    data: list[schemas.OpenAIImage] = []
    for generation in rows:
        for result in task_bodies.stored_results(generation):
            if options.response_format == "url":
                data.append(schemas.OpenAIImage(url=task_bodies.result_url(result, base, output)))
                continue
            with result.file.open("rb") as fh:
                content = fh.read()
            if output.applies_to(result):
                content = output.convert(content)
            data.append(schemas.OpenAIImage(b64_json=base64.b64encode(content).decode("ascii")))
    if not data:
        reasons = sorted({g.error_message or task_bodies.NO_IMAGE_KEPT for g in rows})
        return openai_error(
            502,
            "The image service made no image: " + " / ".join(reasons),
            kind="server_error",
            code="generation_failed",
            headers={"x-should-retry": "false"},
        )
    body = schemas.OpenAIImagesResponse(
        created=int(time.time()),
        data=data,
        output_format=output.format or None,
    )
    return HttpResponse(body.model_dump_json(exclude_none=True), content_type="application/json")
