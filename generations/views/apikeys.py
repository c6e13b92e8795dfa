"""The member's API keys page: create (the key is shown once), list, revoke, the signing
secret of each key's callbacks, and the log of callback deliveries."""

from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from .. import apikeys, callbacks, catalogue
from ..forms import ApiKeyForm
from ..models import ApiKey
from .api import base_url


def _page(request, form, *, new_key=None, status=200):
    keys = apikeys.keys_of(request.user)
    committed = apikeys.committed_this_month(keys)
    labels = {m.id: m.label for m in catalogue.model_options()}
    rows = [
        {
            "key": key,
            "committed": committed.get(key.pk, 0),
            "models": [labels.get(m, m) for m in key.allowed_models],
        }
        for key in keys
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
        new_key = apikeys.create_key(
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
    apikeys.revoke(key, request.user)
    return redirect("api_keys")
