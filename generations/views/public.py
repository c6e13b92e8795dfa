"""The public side of share links: the page and its images, for visitors without a login.

Guessing tokens is rate-limited per client network.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from .. import ratelimit, sharing
from .media import file_response


def _public(response):
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    # A revoked link must stop working at once, also in the visitor's browser cache.
    response["Cache-Control"] = "private, no-cache"
    return response


def _gone(request):
    return _public(render(request, "share/gone.html", status=404))


def _miss(request):
    """A token that names no live link: 404, or 429 once this client has guessed too often.
    Only misses are counted: a valid token is never refused (guessing 256 bits is hopeless
    anyway, and a crowd behind one address must keep its links)."""
    if ratelimit.note_share_miss(request):
        return _public(HttpResponse(_("Too many requests."), status=429, content_type="text/plain"))
    return _gone(request)


@login_not_required
@require_GET
def share_page(request, token):
    link = sharing.live_share(token)
    if link is None:
        return _miss(request)
    shown = sharing.shared_generations(link)
    if link.generation_id and not shown:
        return _gone(request)
    sharing.note_share_view(link)
    cards = [(g, r) for g in shown for r in g.results.all()]
    preview = None
    if cards:
        g, r = cards[0]
        preview = sharing.absolute_url(
            reverse("share_image", args=[link.token, g.pk, r.position]), request
        )
    context = {
        "link": link,
        "cards": cards,
        "title": link.collection.name if link.collection_id else _("A shared image"),
        "preview_url": preview,
        "page_url": sharing.share_url(link, request),
    }
    return _public(render(request, "share/page.html", context))


@login_not_required
@require_GET
def share_image(request, token, generation_id, position, variant="original"):
    link = sharing.live_share(token)
    if link is None:
        return _miss(request)
    shown = sharing.shared_generations(link)
    generation = next((g for g in shown if g.pk == generation_id), None)
    result = generation and next(
        (r for r in generation.results.all() if r.position == position), None
    )
    if result is None:
        return _gone(request)
    if variant == "thumbnail":
        response = file_response(result.thumbnail, "image/webp")
    else:
        response = file_response(result.file, result.content_type)
    return _public(response)
