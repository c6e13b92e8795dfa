"""The studio: the compose form with the member's recent generations, submitting, the
status poll of a running card, retry, remix and "use as reference"."""

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from .. import catalogue, credits, services
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
    return render_studio(request, GenerationForm(initial={"model": catalogue.default_model()}))


@require_POST
def generate(request):
    form = GenerationForm(request.POST, request.FILES)
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
    except (services.ReferencesRefused, credits.CreditError) as exc:
        form.add_error(None, str(exc))
        return _refused(request, form)
    if request.htmx:
        fresh = GenerationForm.with_choices_of(generation)
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
    """One card's state. Never waits on the upstream: a due refresh is claimed and left to
    a worker, and the answer shows the row as it is (at most one interval old)."""
    generation = get_generation_for(request.user, generation_id)
    if not generation.is_final and services.refresh_soon(generation.pk):
        generation = get_generation_for(request.user, generation_id)
    # The final answer also refreshes the header's credits: the hold became a charge.
    response = render(request, "generations/home.html#card_poll", {"generation": generation})
    if generation.needs_polling:
        return response
    # 286 tells htmx to stop polling; the final card carries no trigger either.
    final = HttpResponseStopPolling(response.content)
    if _shown_on_detail_page(request, generation):
        final["HX-Refresh"] = "true"
    return final


MAX_WATCHED = 50


@require_GET
@never_cache
def statuses(request):
    """The one poll of a page: `watch=<id>:<poll token>` for each card in flight on it. Due
    refreshes are claimed and left to a worker; cards whose token changed come back as
    out-of-band swaps, and the credit header too once one is settled."""
    watched = {}
    for item in request.GET.getlist("watch")[:MAX_WATCHED]:
        pk, _sep, token = item.partition(":")
        try:
            watched[uuid.UUID(pk)] = token
        except ValueError:
            continue
    rows = generations_for(request.user).filter(pk__in=watched)
    claimed = [g.pk for g in rows if not g.is_final and services.refresh_soon(g.pk)]
    if claimed:
        rows = generations_for(request.user).filter(pk__in=watched)
    changed = [g for g in rows if g.poll_token != watched[g.pk]]
    settled = [g for g in changed if not g.needs_polling]
    response = render(
        request, "generations/home.html#statuses", {"changed": changed, "settled": settled}
    )
    if any(_shown_on_detail_page(request, g) for g in settled):
        # The detail page shows more than the card once an image is done: reload it.
        response["HX-Refresh"] = "true"
    return response


def _shown_on_detail_page(request, generation):
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


@require_GET
def remix(request, generation_id):
    original = get_generation_for(request.user, generation_id)
    form = GenerationForm.with_choices_of(original, prompt=original.prompt, remix_of=original.pk)
    return render_studio(request, form)


@require_GET
def use_as_reference(request, generation_id, position):
    generation = get_generation_for(request.user, generation_id)
    get_object_or_404(generation.results.filter(state=ResultImage.State.STORED), position=position)
    form = GenerationForm(
        initial={
            "model": generation.model,
            "reference_from": generation.pk,
            "reference_position": position,
        }
    )
    return render_studio(request, form)
