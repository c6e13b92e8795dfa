"""Edit threads (generations/threads.py): a follow-up prompt on a finished image, and a
version compared with its parent."""

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from generations import credits, presets, services, threads
from generations.accounts import members
from generations.forms import EditForm
from generations.views.common import generation_url, get_generation_for


def _editable(request, generation_id, position=0):
    """The image to edit, as 404 for one this member may not see or that has no image."""
    try:
        return threads.editable_image(request.user, generation_id, position)
    except threads.EditRefused:
        raise Http404 from None


def _form_response(request, generation, form, status=200):
    context = {"generation": generation, "edit_form": form}
    if request.htmx:
        # Errors come back into the form in place (htmx swaps 200s only).
        return render(request, "components/edit_form.html", context)
    return render(request, "generations/edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
def edit(request, generation_id):
    """GET: the follow-up prompt's form (in place over htmx, a page of its own without
    JavaScript). POST: the next version, made like any generation."""
    position = _position(request)
    generation = _editable(request, generation_id, position)
    if request.method == "GET":
        form = EditForm(initial={"position": position}, user=request.user)
        return _form_response(request, generation, form)
    form = EditForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        return _form_response(request, generation, form, status=400)
    preset = form.cleaned_data.get("preset")
    try:
        # The chosen style preset wraps the words and adds its assets, as a composer submit.
        chosen = presets.for_submit(
            request.user, form.cleaned_data["prompt"], preset=preset.pk if preset else None
        )
        made = threads.create_edit(
            request.user,
            generation,
            prompt=chosen.prompt,
            references=chosen.references + form.references(),
            position=form.cleaned_data["position"],
            preset=chosen.preset,
            member_prompt=chosen.member_prompt,
        )
    except threads.EditRefused:
        raise Http404 from None
    except (
        services.ReferencesRefused,
        presets.PresetRefused,
        credits.CreditError,
        members.ModelNotAllowed,
    ) as exc:
        form.add_error(None, str(exc))
        return _form_response(request, generation, form, status=400)
    target = generation_url(made[0])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Location"] = target
        return response
    return redirect(target)


def _position(request):
    raw = request.POST.get("position") or request.GET.get("position") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        raise Http404 from None


@require_GET
def compare(request, generation_id):
    """A version beside its parent, and over it with a before/after slider."""
    generation = get_generation_for(request.user, generation_id)
    thread = threads.thread_for(request.user, generation)
    parent = thread.parent
    if parent is None or parent.pk != generation.parent_id:
        # No parent this member may see: nothing to compare with; the page says so.
        return redirect(reverse("generation_detail", args=[generation.pk]) + "#thread")
    context = {
        "generation": generation,
        "parent": parent,
        "thread": thread,
        "before": _first_stored(parent),
        "after": _first_stored(generation),
    }
    return render(request, "generations/compare.html", context)


def _first_stored(generation):
    return next((r for r in generation.results.all() if r.is_stored), None)
