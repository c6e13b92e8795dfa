"""The provider's API served by us, as a drop-in (docs/upstream-jobs.md sections 1 and 2):
`POST /api/image/gen` and `GET /api/task/query`, with the provider's bodies, envelopes,
status codes and error codes, authenticated with a member's personal key. Also the signed
result images those answers link to, the OpenAPI document and the API docs page.

Our additions, where the provider's contract says nothing: refusals for credits answer 400
with the reason in `detail` (the provider folds a low balance into 401, which a client
takes for a broken key), and the member's rate limits answer 429 with the same envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import BaseModel

from generations import catalogue, credits
from generations.api import bodies, callbacks, jobs, keys, schemas, task_bodies
from generations.forms import ApiKeyForm
from generations.models import ApiKey
from generations.views.media import serve_file

logger = logging.getLogger(__name__)

# The provider's own words in its envelopes (contract sections 1 and 2), never translated.
INVALID_KEY = "Invalid API key"
FAILED = "failed"
TASK_NOT_FOUND = "task not found"
LIMIT_RETRY_AFTER = "30"


def bearer_key_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view that authenticates by a personal key (`Authorization: Bearer …`) instead of
    a session: no CSRF (no cookie is trusted), no login redirect; `request.api_key` is the
    key or None. BearerKeyMiddleware usually found it already; this looks if it did not."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not hasattr(request, "api_key"):
            header = request.META.get("HTTP_AUTHORIZATION", "")
            request.api_key = keys.key_from_header(header)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    setattr(wrapped, keys.TAKES_API_KEY, True)
    return login_not_required(csrf_exempt(wrapped))


def request_key(request: HttpRequest) -> ApiKey | None:
    key: ApiKey | None = getattr(request, "api_key", None)
    return key


def base_url(request: HttpRequest) -> str:
    """Where this client reaches us (PUBLIC_BASE_URL when set)."""
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def read_json(
    request: HttpRequest, limit: int, work: bodies.Workspace | None = None
) -> bodies.JsonBody:
    """The JSON body, read to at most `limit` bytes as a stream (bodies.py: long `images`
    items go to files of `work`). Raises bodies.BodyTooLarge, or bodies.MalformedBody when
    it is not JSON (deep nesting included)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise bodies.BodyTooLarge
    with bodies.read_to_file(request, limit) as stream:
        return bodies.parse_json(stream, work)


def answer(body: BaseModel, status: int = 200, **headers: str) -> HttpResponse:
    """A JSON answer made from its schema (generations/api/schemas.py); fields that are
    None and optional in the envelope are left out where `exclude_none` says so."""
    response = HttpResponse(
        body.model_dump_json(exclude_none=isinstance(body, schemas.ProviderError)),
        content_type="application/json",
        status=status,
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


# --- The provider's shapes -----------------------------------------------------------------


def provider_error(status: int, detail: str | None = None, **headers: str) -> HttpResponse:
    return answer(schemas.ProviderError(code=1, message=FAILED, detail=detail), status, **headers)


def provider_unauthorized(code: int) -> HttpResponse:
    return answer(
        schemas.ProviderError(code=code, message=INVALID_KEY),
        401,
        WWW_Authenticate='Bearer realm="banana-studio"',
    )


def credit_refusal(exc: credits.CreditError) -> HttpResponse:
    if isinstance(exc, credits.LimitReached) and not isinstance(exc, credits.TeamCapReached):
        return provider_error(429, str(exc), Retry_After=LIMIT_RETRY_AFTER)
    return provider_error(400, str(exc))


@bearer_key_view
@require_POST
def image_gen(request: HttpRequest) -> HttpResponse:
    """Contract section 1, served by us for a member's key."""
    key = request_key(request)
    if key is None:
        return provider_unauthorized(1)
    with bodies.workspace() as work:
        try:
            body = read_json(request, settings.BANANA_MEMBER_MAX_BODY, work)
        except bodies.BodyTooLarge:
            return provider_error(413, "request body is too large")
        except bodies.MalformedBody:
            return provider_error(400, "malformed JSON")
        if not isinstance(body.fields, dict):
            return provider_error(400, "the body must be a JSON object")
        try:
            asked = schemas.parse(schemas.ProviderSubmitRequest, body.fields)
            model = jobs.check_model(key, asked.model)
            callback_url = (
                jobs.checked_url(asked.callback_url, "callback_url") if asked.callback_url else ""
            )
            edit_of = jobs.edit_target(key, asked.edit_of, "edit_of")
            chosen = jobs.library_choice(
                key,
                asked.prompt,
                asked.preset,
                asked.library_assets,
                other_references=len(asked.images or ()) + (edit_of is not None),
            )
            preset = chosen.preset
            (generation,) = jobs.submit(
                key,
                edit_of=edit_of,
                model=model,
                prompt=chosen.prompt,
                references=chosen.references
                + jobs.references_from_strings(asked.images, work, body.spilled),
                # A preset's defaults fill what the call left out.
                aspect_ratio=asked.aspect_ratio or (preset.aspect_ratio if preset else ""),
                image_size=jobs.image_size_for(
                    model, asked.image_size or (preset.image_size if preset else "")
                ),
                callback_url=callback_url,
                base_url=base_url(request),
                preset=preset,
                member_prompt=chosen.member_prompt,
            )
        except (schemas.ImageNotFound, schemas.NotFound) as exc:
            return provider_error(404, str(exc))
        except schemas.InvalidRequest as exc:
            return provider_error(400, str(exc))
        except credits.CreditError as exc:
            return credit_refusal(exc)
    return answer(schemas.ProviderSubmitOk(data=schemas.SubmitData(task_id=str(generation.pk))))


@bearer_key_view
@require_GET
@never_cache
def task_query(request: HttpRequest) -> HttpResponse:
    """Contract section 2: the member's own tasks only; anyone else's is "not found". The
    answer is the row as we know it: a due check of the upstream is left to a worker."""
    key = request_key(request)
    if key is None:
        return provider_unauthorized(401)
    task_id = request.GET.get("task_id", "").strip()
    if not task_id:
        return provider_error(400, "task_id is required")
    generation = jobs.own_generation(key, task_id)
    if generation is None:
        return answer(schemas.ProviderError(code=1, message=TASK_NOT_FOUND), 404)
    generation = jobs.refreshed(key, generation)
    base = task_bodies.base_url_of(generation, base_url(request))
    return answer(schemas.ProviderQueryOk(data=task_bodies.task(generation, base)))


@bearer_key_view
@require_GET
@never_cache
def balance(request: HttpRequest) -> HttpResponse:
    """The key's member's credits and what the key may still spend this month."""
    key = request_key(request)
    if key is None:
        return provider_unauthorized(401)
    return answer(schemas.BalanceOk(data=jobs.balance_of(key)))


@csrf_exempt  # no cookie is trusted, and any method but GET is refused (405)
@login_not_required
@require_GET
def result_image(request: HttpRequest, token: str) -> HttpResponse:
    """A result image an API answer or callback linked to: signed and expiring, so it
    needs no session (scripts and chat front-ends fetch it as it is)."""
    signed = task_bodies.result_from_token(token)
    if signed is None:
        raise Http404
    result, output = signed.result, signed.output
    if output.applies_to(result):
        with result.file.open("rb") as fh:
            content = output.convert(fh.read())
        response = HttpResponse(content, content_type=output.content_type(result))
        response["Cache-Control"] = "private, max-age=3600"
    else:
        response = serve_file(request, result.file.name, result.content_type)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- Documentation -------------------------------------------------------------------------


@login_not_required
@require_GET
def openapi_document(request: HttpRequest) -> HttpResponse:
    """The OpenAPI 3.1 description of the APIs, public like any API description."""
    document = schemas.document(base_url(request), retry_schedule=retry_schedule())
    response = JsonResponse(document, json_dumps_params={"indent": 1})
    response["Access-Control-Allow-Origin"] = "*"
    return response


def retry_schedule() -> str:
    """When an unanswered callback is tried again, for people: "5 s, 30 s, 2 min, …"."""

    def shown(delay: timedelta) -> str:
        seconds = int(delay.total_seconds())
        if seconds % 3600 == 0:
            return f"{seconds // 3600} h"
        return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"

    delays = [shown(d) for d in callbacks.RETRY_DELAYS]
    return ", ".join(delays[:-1]) + " and " + delays[-1]


@require_GET
def docs(request: HttpRequest) -> HttpResponse:
    """How to use the APIs, with this member's base URL in every example."""
    return render(
        request,
        "generations/api_docs.html",
        {
            "base_url": base_url(request),
            "models": catalogue.model_options(),
            "wait_seconds": int(settings.BANANA_API_WAIT_SECONDS),
            "result_ttl_days": settings.BANANA_API_RESULT_URL_TTL // 86400,
        },
    )


# --- The member's keys page ----------------------------------------------------------------


def _page(request, form, *, new_key=None, status=200):
    member_keys = keys.keys_of(request.user)
    committed = keys.committed_this_month(member_keys)
    labels = {m.id: m.label for m in catalogue.model_options()}
    rows = [
        {
            "key": key,
            "committed": committed.get(key.pk, 0),
            "models": [labels.get(m, m) for m in key.allowed_models],
        }
        for key in member_keys
    ]
    context = {
        "form": form,
        "rows": rows,
        "new_key": new_key,
        "deliveries": callbacks.deliveries_of(request.user),
        "base_url": base_url(request),
    }
    return render(request, "generations/api_keys.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def api_keys(request):
    if request.method != "POST":
        return _page(request, ApiKeyForm())
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        new_key = keys.create_key(
            request.user,
            data["name"],
            monthly_budget=data["monthly_budget"],
            allowed_models=data["allowed_models"],
        )
    except ValueError as exc:
        form.add_error(None, str(exc))
        return _page(request, form, status=400)
    # Shown in this answer only (never_cache: not kept by the browser or a proxy).
    return _page(request, ApiKeyForm(), new_key=new_key)


@require_POST
def api_key_revoke(request, key_id):
    key = get_object_or_404(ApiKey.objects.filter(user=request.user), pk=key_id)
    keys.revoke(key, request.user)
    return redirect("api_keys")
