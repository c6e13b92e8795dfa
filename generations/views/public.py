"""The public side of share links: the page and its images, for visitors without a login.

Guessing tokens is rate-limited per client network.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from generations import ratelimit, sharing
from generations.models import Generation, ResultImage
from generations.views.media import download_name, result_file, serve_file


def _public(response):
    # The token in the URL never goes to another site; our own origin may see it, so the
    # language switcher's POST carries its Origin (no-referrer makes it "null", which CSRF
    # protection refuses).
    response["Referrer-Policy"] = "same-origin"
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
    cookie = sharing.visitor_cookie_name(link)
    salt = sharing.VISITOR_COOKIE_SALT
    first_visit = request.get_signed_cookie(cookie, default=None, salt=salt) != str(link.pk)
    if first_visit:
        sharing.note_share_visitor(link)
    cards = [(g, r) for g in shown for r in g.results.all()]
    preview = None
    if cards:
        # The display variant: large enough for a preview card, far lighter than the original.
        g, r = cards[0]
        preview = sharing.absolute_url(
            reverse("share_display", args=[link.token, g.pk, r.position]), request
        )
    context = {
        "link": link,
        "cards": cards,
        "title": link.collection.name
        if link.collection_id
        else _("A shared edit thread")
        if link.whole_thread
        else _("A shared image"),
        "preview_url": preview,
        "preview": cards[0][1] if cards else None,
        # One shared image is shown large; a collection is a grid, however few it holds.
        "one_large": bool(link.generation_id) and len(cards) == 1,
        "page_url": sharing.share_url(link, request),
    }
    response = render(request, "share/page.html", context)
    if first_visit:
        response.set_signed_cookie(
            cookie,
            str(link.pk),
            salt=salt,
            max_age=sharing.VISITOR_COOKIE_MAX_AGE,
            path=reverse("share_page", args=[link.token]),
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return _public(response)


# A presigned bucket URL handed out for a shared image outlives a revocation by at most this.
SHARE_PRESIGNED_TTL = 60


def _shared_result(link, generation_id, position):
    """The stored result a live link shows, in one query: the link's own generation, or
    one of its collection's, as long as `sharing.shareable` still allows it."""
    generations = Generation.objects.filter(sharing.shareable(link.owner_id), pk=generation_id)
    if link.generation_id and link.whole_thread:
        generations = generations.filter(pk__in=[g.pk for g in sharing.shared_generations(link)])
    elif link.generation_id:
        generations = generations.filter(pk=link.generation_id)
    else:
        generations = generations.filter(collection_items__collection_id=link.collection_id)
    return (
        ResultImage.objects.filter(
            generation__in=generations, state=ResultImage.State.STORED, position=position
        )
        .defer("source")
        .first()
    )


@login_not_required
@require_GET
def share_image(request, token, generation_id, position, variant="original"):
    """A shared image, checked against the link on every request (a revoked link stops at
    once, also in browser caches: no-cache, with an ETag for a cheap 304)."""
    link = sharing.live_share(token)
    if link is None:
        return _miss(request)
    result = _shared_result(link, generation_id, position)
    if result is None:
        return _gone(request)
    # Where retention removed the original, its display variant stands in.
    if variant == "original" and not result.file:
        variant = "display"
    name, content_type = result_file(result, variant)
    # A download (the original, as a file) only where the sharer allowed it.
    download = variant == "original" and "download" in request.GET and link.allow_download
    response = serve_file(
        request,
        name,
        content_type,
        cache_control="private, no-cache",
        presigned_ttl=SHARE_PRESIGNED_TTL,
        filename=download_name(
            result.generation,
            position,
            name.rsplit(".", 1)[-1],
            with_prompt=link.show_prompts,
        )
        if download
        else "",
        attachment=download,
    )
    return _public(response)
