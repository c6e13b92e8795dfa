"""The studio: the compose form with the member's recent generations, submitting, the
status poll of a running card, retry, remix and "use as reference"."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from .. import catalogue, credits, members, services
from ..forms import GenerationForm
from ..models import ResultImage
from .common import generations_for, get_generation_for

RECENT_LIMIT = 24


def render_studio(request, form, status=200):
    recent = generations_for(request.user).filter(owner=request.user)[:RECENT_LIMIT]
    context = {"form": form, "generations": recent}
    return render(request, "generations/home.html", context, status=status)


def _refused(request, form):
    if request.htmx:
        return render(request, "generations/home.html#compose", {"form": form})
    return render_studio(request, form, status=400)


@require_GET
def home(request):
    return render_studio(
        request, GenerationForm(initial={"model": catalogue.default_model()}, user=request.user)
    )


@require_POST
def generate(request):
    form = GenerationForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        return _refused(request, form)
    data = form.cleaned_data
    try:
        references = services.references_for_submit(
            request.user,
            form.references(),
            remix_of=data["remix_of"],
            reference_from=data["reference_from"],
            position=data["reference_position"],
        )
        generation = services.create_generation(
            request.user,
            model=data["model"],
            prompt=data["prompt"],
            aspect_ratio=data["aspect_ratio"],
            image_size=data["image_size"],
            references=references,
            visibility=data["visibility"],
        )
    except (services.ReferencesRefused, credits.CreditError, members.ModelNotAllowed) as exc:
        form.add_error(None, str(exc))
        return _refused(request, form)
    if request.htmx:
        fresh = GenerationForm.with_choices_of(generation, user=request.user)
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
    except (credits.CreditError, members.ModelNotAllowed) as exc:
        if request.htmx:
            return render(request, "generations/home.html#credit_refusal", {"message": exc})
        messages.error(request, str(exc))
        return redirect("home")
    if request.htmx:
        generation = get_generation_for(request.user, generation.pk)
        return render(request, "generations/home.html#card", {"generation": generation})
    return redirect("generation_detail", generation_id=generation.pk)


@require_GET
def remix(request, generation_id):
    original = get_generation_for(request.user, generation_id)
    form = GenerationForm.with_choices_of(
        original, user=request.user, prompt=original.prompt, remix_of=original.pk
    )
    return render_studio(request, form)


@require_GET
def use_as_reference(request, generation_id, position):
    generation = get_generation_for(request.user, generation_id)
    get_object_or_404(generation.results.filter(state=ResultImage.State.STORED), position=position)
    form = GenerationForm(
        user=request.user,
        initial={
            "model": generation.model,
            "reference_from": generation.pk,
            "reference_position": position,
        },
    )
    return render_studio(request, form)
