"""The team library and the style presets (issue 20): the library page (upload, search,
delete), "save to library" from any image of ours, the composer's library picker, the
presets page and the composer's final-prompt preview."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generations import library, presets
from generations.library_forms import (
    AssetUploadForm,
    LibrarySearchForm,
    PresetForm,
    SaveToLibraryForm,
)
from generations.models import LibraryAsset
from generations.views.common import safe_next_url

PICKER_LIMIT = 48


def _search(request, *, to_use=False):
    form = LibrarySearchForm(request.GET or None)
    text = form.cleaned_data["q"] if form.is_valid() else ""
    return form, library.search(request.user, text, to_use=to_use)


@require_http_methods(["GET", "POST"])
def library_page(request):
    upload_form = AssetUploadForm(request.POST or None, request.FILES or None, prefix="asset")
    if request.method == "POST" and upload_form.is_valid():
        data = upload_form.cleaned_data
        asset = library.add_asset(
            request.user,
            data["image"],
            name=data["name"],
            tags=data["tags"],
            visibility=data["visibility"],
        )
        messages.success(request, _("“%(name)s” was added to the library.") % {"name": asset.name})
        return redirect("library")
    search_form, assets = _search(request)
    context = {
        "upload_form": upload_form,
        "search_form": search_form,
        "assets": assets,
    }
    return render(
        request, "generations/library.html", context, status=400 if upload_form.errors else 200
    )


@require_POST
def library_delete(request, asset_id):
    asset = get_object_or_404(LibraryAsset.objects.visible_to(request.user), pk=asset_id)
    if not library.can_delete(request.user, asset):
        raise PermissionDenied
    library.delete_asset(asset)
    messages.success(request, _("“%(name)s” was removed from the library.") % {"name": asset.name})
    return redirect("library")


@require_POST
def library_save(request):
    """ "Save to library" on a result or a reference of a generation the member may see."""
    form = SaveToLibraryForm(request.POST)
    if not form.is_valid():
        return HttpResponse(status=400)
    data = form.cleaned_data
    save = library.save_result if data["kind"] == "result" else library.save_reference
    try:
        asset = save(
            request.user,
            data["generation"],
            data["position"],
            name=data["name"],
            tags=data["tags"],
            visibility=data["visibility"],
        )
    except library.AssetRefused as exc:
        if request.htmx:
            return render(request, "components/library_saved.html", {"error": str(exc)})
        messages.error(request, str(exc))
        return redirect(safe_next_url(request) or "library")
    if request.htmx:
        return render(request, "components/library_saved.html", {"asset": asset})
    messages.success(request, _("“%(name)s” was added to the library.") % {"name": asset.name})
    return redirect(safe_next_url(request) or "library")


@require_GET
def library_picker(request):
    """The composer's library picker: the assets the member may use, searched."""
    _form, assets = _search(request, to_use=True)
    return render(
        request, "components/library_picker.html#items", {"assets": assets[:PICKER_LIMIT]}
    )


@require_http_methods(["GET", "POST"])
def presets_page(request):
    form = PresetForm(request.POST or None, user=request.user, prefix="preset")
    if request.method == "POST" and form.is_valid():
        try:
            preset = _save_preset(request, form, None)
        except presets.PresetRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The preset “%(name)s” was saved.") % {"name": preset})
            return redirect("presets")
    context = {
        "form": form,
        "presets": presets.usable(request.user).prefetch_related(
            Prefetch("assets", queryset=LibraryAsset.objects.usable_by(request.user))
        ),
        "may_make_team_presets": presets.may_make_team_presets(request.user),
        "user_id": request.user.pk,
    }
    return render(request, "generations/presets.html", context, status=400 if form.errors else 200)


def _save_preset(request, form, preset):
    data = form.cleaned_data
    return presets.save(
        request.user,
        preset=preset,
        name=data["name"],
        template=data["template"],
        scope=data["scope"],
        model=data["model"],
        aspect_ratio=data["aspect_ratio"],
        image_size=data["image_size"],
        count=data["count"],
        asset_ids=[asset.pk for asset in data["assets"]],
    )


def _changeable_preset(request, preset_id):
    preset = get_object_or_404(presets.usable(request.user), pk=preset_id)
    if not presets.can_change(request.user, preset):
        raise PermissionDenied
    return preset


@require_http_methods(["GET", "POST"])
def preset_edit(request, preset_id):
    preset = _changeable_preset(request, preset_id)
    form = PresetForm(request.POST or None, instance=preset, user=request.user, prefix="preset")
    if request.method == "POST" and form.is_valid():
        try:
            _save_preset(request, form, preset)
        except presets.PresetRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The preset “%(name)s” was saved.") % {"name": preset})
            return redirect("presets")
    return render(
        request,
        "generations/preset_edit.html",
        {"form": form, "preset": preset},
        status=400 if form.errors else 200,
    )


@require_POST
def preset_delete(request, preset_id):
    preset = _changeable_preset(request, preset_id)
    presets.delete(request.user, preset)
    messages.success(request, _("The preset “%(name)s” was deleted.") % {"name": preset})
    return redirect("presets")


@require_GET
def preset_preview(request):
    """The composer's final prompt: the member's words wrapped by the chosen preset."""
    prompt = request.GET.get("prompt", "")
    chosen = request.GET.get("preset", "")
    final, assets = "", []
    if chosen:
        try:
            preset = presets.find(request.user, chosen)
        except presets.PresetRefused:
            preset = None
        if preset is not None:
            final = presets.expand(preset.template, prompt)
            assets = list(
                LibraryAsset.objects.usable_by(request.user)
                .filter(presets=preset)
                .values_list("name", flat=True)
            )
    return render(
        request,
        "components/preset_picker.html#preview",
        {"final_prompt": final, "preset_assets": assets},
    )
