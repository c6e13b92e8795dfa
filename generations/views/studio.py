"""The studio: the compose form with the member's recent jobs, submitting, the status poll
of running cards, retry, vary, cancel, remix and "use as reference"."""

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from generations import catalogue, credits, galleries, library, presets, services
from generations.accounts import members
from generations.forms import GenerationForm
from generations.models import ApiTask, Generation, ResultImage
from generations.views.common import generations_for, get_generation_for

RECENT_LIMIT = 24


def jobs_of(generations):
    """Generations grouped by job, newest job first, each job's images in order."""
    jobs: dict = {}
    for generation in generations:
        jobs.setdefault(generation.job_key, []).append(generation)
    return [sorted(job, key=lambda g: (g.created_at, str(g.pk))) for job in jobs.values()]


def recent_jobs(user):
    return jobs_of(galleries.card_page(user, "history", size=RECENT_LIMIT)[0])


def composer_context(request, form):
    """What the composer needs, on the studio's page and swapped in place (remix, "use
    these settings"): its form, recent prompts and the member's style presets."""
    return {
        "form": form,
        "recent_prompts": galleries.recent_prompts(request.user),
        "presets": presets.for_composer(request.user),
    }


def render_studio(request, form, status=200):
    context = {
        **composer_context(request, form),
        "jobs": recent_jobs(request.user),
        "in_flight": galleries.count_in_flight(request.user),
    }
    return render(request, "generations/home.html", context, status=status)


def _refused(request, form):
    if request.htmx:
        # Only the messages change: the form itself (files chosen included) stays as it is.
        return render(request, "generations/home.html#compose_errors", {"form": form})
    return render_studio(request, form, status=400)


@require_GET
def home(request):
    return render_studio(
        request, GenerationForm(initial={"model": catalogue.default_model()}, user=request.user)
    )


def _as_new_cards(generations):
    """The rows a submit just inserted, ready for their cards without reading them back:
    a new generation has no results, is no one's favourite and (made here) has no API task."""
    # Empty querysets: prefetch_related_objects notes "none" without asking the database.
    prefetch_related_objects(
        generations,
        Prefetch("results", queryset=ResultImage.objects.none()),
        Prefetch("api_task", queryset=ApiTask.objects.none()),
    )
    for generation in generations:
        generation.is_favourite = False
    return generations


def _new_job_response(request, generations, form, template="generations/home.html#new_job"):
    # `form` is the valid form just submitted: its (empty) errors clear the compose form's.
    context = {
        "job": _as_new_cards(generations),
        "form": form,
        "credit_summary": credits.balances_after_holds(generations),
    }
    response = render(request, template, context)
    # studio.js forgets the saved draft once a submit went through.
    return trigger_client_event(response, "banana:submitted", {"count": len(generations)})


@require_POST
def generate(request):
    form = GenerationForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        return _refused(request, form)
    data = form.cleaned_data
    try:
        # The composer's library assets and style preset (components/library_picker.html,
        # components/preset_picker.html).
        chosen = presets.for_submit(
            request.user,
            data["prompt"],
            preset=request.POST.get("preset", ""),
            assets=request.POST.getlist("library_asset"),
        )
        references = services.references_for_submit(
            request.user,
            chosen.references + form.references(),
            remix_of=data["remix_of"],
            reference_from=data["reference_from"],
            position=data["reference_position"],
            remix_drop=data["remix_drop"],
        )
        generations = services.create_job(
            request.user,
            count=data["count"],
            model=data["model"],
            prompt=chosen.prompt,
            aspect_ratio=data["aspect_ratio"],
            image_size=data["image_size"],
            references=references,
            visibility=data["visibility"],
            preset=chosen.preset,
            member_prompt=chosen.member_prompt,
        )
    except (
        services.ReferencesRefused,
        presets.PresetRefused,
        credits.CreditError,
        members.ModelNotAllowed,
    ) as exc:
        form.add_error(None, members.refusal_message(exc))
        return _refused(request, form)
    if request.POST.get("save_uploads_to_library") and data["reference_files"]:
        # components/library_picker.html: "also keep my uploads in the library".
        names = [f.name for f in request.FILES.getlist("reference_files")]
        library.save_uploads(request.user, data["reference_files"], names)
    if request.htmx:
        return _new_job_response(request, generations, form)
    return redirect("generation_detail", generation_id=generations[0].pk)


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
    rows = galleries.watched_cards(request.user, watched)
    for generation in rows:
        # A claimed refresh is the worker's: this answer shows the rows as they were read.
        services.refresh_soon(generation)
    changed = [g for g in rows if g.poll_token != watched[g.pk]]
    settled = [g for g in changed if not g.needs_polling]
    context = {"changed": changed, "settled": settled}
    if settled:
        # The credit header comes along: the holds of the settled cards became charges.
        context["credit_summary"] = credits.balances_of_row(settled[0])
    response = render(request, "generations/home.html#statuses", context)
    if any(_shown_on_detail_page(request, g) for g in settled):
        # The detail page shows more than the card once an image is done: reload it.
        response["HX-Refresh"] = "true"
    if settled:
        # studio.js announces them (and, in a hidden tab, notifies the member if asked to).
        done = sum(g.is_success for g in settled)
        trigger_client_event(
            response, "banana:finished", {"done": done, "failed": len(settled) - done}
        )
    return response


def _shown_on_detail_page(request, generation):
    current = request.htmx.current_url_abs_path if request.htmx else None
    return current == reverse("generation_detail", args=[generation.pk])


def _in_studio_grid(request):
    """An htmx request from the studio's card grid, where a new card can be put."""
    return bool(request.htmx) and request.htmx.current_url_abs_path == reverse("home")


def _new_run_response(request, generation):
    if _in_studio_grid(request):
        return _new_job_response(request, [generation], None, "generations/home.html#new_job_oob")
    if request.htmx:
        # Elsewhere (a generation's page, a gallery): go to the new run's page.
        response = HttpResponse(status=204)
        response["HX-Location"] = reverse("generation_detail", args=[generation.pk])
        return response
    return redirect("generation_detail", generation_id=generation.pk)


def _credit_refusal(request, exc):
    if request.htmx:
        message = members.refusal_message(exc)
        response = render(request, "generations/home.html#credit_refusal", {"message": message})
        response["HX-Retarget"] = "#announcer"
        response["HX-Reswap"] = "innerHTML"
        return response
    messages.error(request, members.refusal_message(exc))
    return redirect("home")


@require_POST
def retry(request, generation_id):
    original = get_generation_for(request.user, generation_id)
    if original.owner_id != request.user.pk:
        raise PermissionDenied
    return _run_again(request, services.retry_generation, original)


@require_POST
def vary(request, generation_id):
    return _run_again(
        request, services.vary_generation, get_generation_for(request.user, generation_id)
    )


def _run_again(request, how, original):
    try:
        generation = how(original, request.user)
    except (credits.CreditError, members.ModelNotAllowed) as exc:
        return _credit_refusal(request, exc)
    return _new_run_response(request, generation)


@require_POST
def cancel(request, generation_id):
    generation = get_generation_for(request.user, generation_id)
    if generation.owner_id != request.user.pk:
        raise PermissionDenied
    if not services.cancel_generation(generation.pk):
        messages.info(request, _("It was already on its way and can no longer be cancelled."))
    generation = get_generation_for(request.user, generation_id)
    if request.htmx:
        return render(
            request,
            "generations/home.html#cancelled",
            {"generation": generation},
        )
    return redirect("home")


@require_GET
def remix(request, generation_id):
    original = get_generation_for(request.user, generation_id)
    form = GenerationForm.with_choices_of(
        original, user=request.user, prompt=original.prompt, remix_of=original.pk
    )
    if request.htmx:
        # Into the studio's form in place: the page stays, the form becomes the remix.
        return _compose_in_place(request, form)
    return render_studio(request, form)


@require_GET
def reuse(request, generation_id):
    """The composer ("Use these settings") filled with a generation's prompt, model, ratio,
    size, visibility, number of images (its job's) and references (removable, as a remix's)."""
    original = get_generation_for(request.user, generation_id)
    form = GenerationForm.with_choices_of(
        original,
        user=request.user,
        prompt=original.prompt,
        remix_of=original.pk,
        count=galleries.images_in_job(original),
    )
    if request.htmx:
        return _compose_in_place(request, form)
    return render_studio(request, form)


def _compose_in_place(request, form):
    # The same composer as the page's: a remix keeps the style presets at hand.
    return render(request, "generations/home.html#compose", composer_context(request, form))


@require_GET
def use_as_reference(request, generation_id, position):
    generation = get_generation_for(request.user, generation_id)
    get_object_or_404(generation.results.filter(state=ResultImage.State.STORED), position=position)
    form = GenerationForm(
        initial={
            "model": generation.model,
            "reference_from": generation.pk,
            "reference_position": position,
        },
        user=request.user,
    )
    return render_studio(request, form)


@require_GET
def picker(request):
    """The member's recent images to pick a reference from (the compose form's dialog)."""
    recent = (
        generations_for(request.user)
        .filter(owner=request.user, status=Generation.Status.SUCCESS)
        .order_by("-created_at")[:30]
    )
    return render(request, "generations/home.html#picker", {"generations": recent})
