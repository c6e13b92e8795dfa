import json
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from . import credits, services, sharing
from .forms import GenerationForm
from .models import Generation, ResultImage

logger = logging.getLogger(__name__)

RECENT_LIMIT = 24
WEBHOOK_MAX_BODY = 1024 * 1024


def generations_for(user):
    return Generation.objects.visible_to(user).prefetch_related(
        Prefetch("results", queryset=ResultImage.objects.defer("source"))
    )


def get_generation_for(user, generation_id):
    """The generation, if this user may see it; 404 otherwise (no hint that it exists)."""
    return get_object_or_404(generations_for(user), pk=generation_id)


def _home_context(request, form):
    recent = generations_for(request.user).filter(owner=request.user)[:RECENT_LIMIT]
    return {"form": form, "generations": recent}


@require_GET
def home(request):
    form = GenerationForm(initial={"model": services.model_options()[0].id})
    return render(request, "generations/home.html", _home_context(request, form))


@require_POST
def generate(request):
    form = GenerationForm(request.POST, request.FILES)
    references = sharing.references_for(request.user, form) if form.is_valid() else None
    if references is None:
        if request.htmx:
            return render(request, "generations/home.html#compose", {"form": form})
        return render(request, "generations/home.html", _home_context(request, form), status=400)
    try:
        generation = services.create_generation(
            request.user,
            model=form.cleaned_data["model"],
            prompt=form.cleaned_data["prompt"],
            aspect_ratio=form.cleaned_data["aspect_ratio"],
            image_size=form.cleaned_data["image_size"],
            references=references,
            visibility=form.cleaned_data["visibility"],
        )
    except credits.CreditError as exc:
        form.add_error(None, str(exc))
        if request.htmx:
            return render(request, "generations/home.html#compose", {"form": form})
        return render(request, "generations/home.html", _home_context(request, form), status=400)
    if request.htmx:
        fresh = GenerationForm(
            initial={
                "model": generation.model,
                "aspect_ratio": generation.aspect_ratio,
                "image_size": generation.image_size,
                "visibility": generation.visibility,
            }
        )
        generation = get_generation_for(request.user, generation.pk)
        return render(
            request,
            "generations/home.html#compose_with_new_card",
            {"form": fresh, "generation": generation},
        )
    return redirect("generation_detail", generation_id=generation.pk)


@require_GET
@never_cache
def status(request, generation_id):
    generation = get_generation_for(request.user, generation_id)
    if not generation.is_final and services.refresh_from_upstream(generation.pk):
        generation = get_generation_for(request.user, generation_id)
    # The final answer also refreshes the header's credits: the hold became a charge.
    response = render(request, "generations/home.html#card_poll", {"generation": generation})
    if generation.needs_polling:
        return response
    # 286 tells htmx to stop polling; the final card carries no trigger either.
    final = HttpResponseStopPolling(response.content)
    if _polled_from_detail_page(request, generation):
        # The detail page shows more than the card once an image is done: reload it.
        final["HX-Refresh"] = "true"
    return final


def _polled_from_detail_page(request, generation):
    current = request.htmx.current_url_abs_path if request.htmx else None
    return current == reverse("generation_detail", args=[generation.pk])


@require_POST
def retry(request, generation_id):
    original = get_generation_for(request.user, generation_id)
    if original.owner_id != request.user.pk:
        raise PermissionDenied
    try:
        generation = services.retry_generation(original, request.user)
    except credits.CreditError as exc:
        if request.htmx:
            return render(request, "generations/home.html#credit_refusal", {"message": exc})
        messages.error(request, str(exc))
        return redirect("home")
    if request.htmx:
        generation = get_generation_for(request.user, generation.pk)
        return render(request, "generations/home.html#card", {"generation": generation})
    return redirect("generation_detail", generation_id=generation.pk)


def _download_name(generation, position, extension):
    stem = slugify(generation.prompt[:60]) or "image"
    return f"banana-{stem}-{str(generation.pk)[:8]}-{position + 1}.{extension}"


def _file_response(field_file, content_type, *, filename=None, attachment=False):
    if not field_file:
        raise Http404
    response = FileResponse(
        field_file.open("rb"),
        content_type=content_type or None,
        as_attachment=attachment,
        filename=filename or "",
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def result_image(request, generation_id, position, variant="original"):
    generation = get_generation_for(request.user, generation_id)
    result = get_object_or_404(
        generation.results.filter(state=ResultImage.State.STORED), position=position
    )
    if variant == "thumbnail":
        return _file_response(result.thumbnail, "image/webp")
    extension = result.file.name.rsplit(".", 1)[-1]
    return _file_response(
        result.file,
        result.content_type,
        filename=_download_name(generation, position, extension),
        attachment="download" in request.GET,
    )


@require_GET
def reference_image(request, generation_id, position):
    generation = get_generation_for(request.user, generation_id)
    reference = get_object_or_404(generation.references.exclude(file=""), position=position)
    return _file_response(reference.file, reference.content_type)


@login_not_required
@require_GET
def reference_public(request, token):
    """An uploaded reference, for the upstream to fetch: signed and expiring."""
    reference = services.reference_from_token(token)
    if reference is None:
        raise Http404
    return _file_response(reference.file, reference.content_type)


@login_not_required
@csrf_exempt
@require_POST
def upstream_webhook(request, generation_id, secret):
    generation = Generation.objects.filter(pk=generation_id).first()
    # The same 404 for an unknown row and a wrong secret: the URL is the only credential.
    if generation is None or not generation.webhook_secret_matches(secret):
        raise Http404
    payload = None
    if len(request.body) <= WEBHOOK_MAX_BODY:
        try:
            payload = json.loads(request.body)
        except ValueError:
            logger.info("Webhook for %s: body is not JSON", generation_id)
    services.handle_callback(generation, payload)
    return JsonResponse({"ok": True})


@login_not_required
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")
