"""Choosing the language: the switcher on every page, and the JavaScript catalogue."""

from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.views import i18n
from django.views.decorators.http import require_GET, require_POST

from generations import languages


@login_not_required
@require_POST
def set_language(request):
    """Django's set_language (back to `next`, the page the switcher was on, query and all;
    the choice kept in the language cookie), and for a member the choice is saved too."""
    response = i18n.set_language(request)
    language = languages.supported_language(request.POST.get("language"))
    if language and request.user.is_authenticated:
        languages.save_language(request, request.user, language)
    return response


_catalogue = i18n.JavaScriptCatalog.as_view(domain="djangojs", packages=["generations"])


@login_not_required
@require_GET
def javascript_catalog(request, language, version):
    """studio.js's strings in one language, as a script from our own origin (the CSP allows
    no inline script). The URL names the language and the catalogue's version, so browsers
    keep it for good and a new catalogue is a new URL."""
    if not languages.supported_language(language):
        raise Http404
    with translation.override(language):
        response = _catalogue(request)
    if version == languages.catalogue_version():
        patch_cache_control(response, public=True, max_age=365 * 24 * 3600, immutable=True)
    else:
        # A page from before a deploy (or another worker's): its words, but not kept.
        patch_cache_control(response, no_cache=True)
    return response
