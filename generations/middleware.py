import io
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth.middleware import (
    LoginRequiredMiddleware as DjangoLoginRequiredMiddleware,
)
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from generations import languages
from generations.api import bodies


class VaryOnHtmxMiddleware:
    """Pages that answer htmx requests with a fragment must not share a cache entry
    with the full page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


# Features no page of ours uses, refused to anything a page might load.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
        "interest-cohort",
    )
)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class RequestSizeLimitMiddleware:
    """Refuses a request whose declared body is larger than its sender may send, before
    anything reads it: anonymous requests (log-in, webhooks) are small, a member's at most a
    few uploads. One oversized request must not hold a worker."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= settings.BANANA_ANONYMOUS_MAX_BODY:
            # Small enough for anyone: who sent it need not be looked up (most requests,
            # and the signed image URLs, which must cost no database query).
            return self.get_response(request)
        user = getattr(request, "user", None)
        limit = (
            settings.BANANA_MEMBER_MAX_BODY
            if user is not None and user.is_authenticated
            else settings.BANANA_ANONYMOUS_MAX_BODY
        )
        if length > limit:
            if limit == settings.BANANA_ANONYMOUS_MAX_BODY and request.headers.get("HX-Request"):
                # Most likely a member whose session ended mid-upload: to the login page.
                return login_redirect(request)
            return HttpResponse(_("Request body too large."), status=413, content_type="text/plain")
        return self.get_response(request)


class ChunkedBodies:
    """WSGI, around Django (banana_site/wsgi.py): a body sent with `Transfer-Encoding:
    chunked` and no Content-Length (the `openai` Node package sends streamed files so) is
    read here, within the largest limit its sender could have, into a temporary file, and
    handed on with its length. Django reads no more of a body than CONTENT_LENGTH says, so
    it would otherwise see an empty one. RequestSizeLimitMiddleware then applies the
    sender's own limit, as for any body."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or environ.get("CONTENT_LENGTH"):
            return self.application(environ, start_response)
        limit = settings.BANANA_ANONYMOUS_MAX_BODY
        if _may_be_a_member(environ):
            limit = max(limit, settings.BANANA_MEMBER_MAX_BODY)
        try:
            body = bodies.read_to_file(environ["wsgi.input"], limit)
        except bodies.BodyTooLarge:
            start_response(
                "413 Request Entity Too Large",
                [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")],
            )
            return [b"Request body too large."]
        size = body.seek(0, io.SEEK_END)
        body.seek(0)
        environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(size)})
        del environ["HTTP_TRANSFER_ENCODING"]  # what Django is handed is no longer chunked
        return _ClosingBoth(self.application(environ, start_response), body)


def _may_be_a_member(environ):
    """A key or a session cookie: who sent it is decided later, this only bounds the read."""
    if environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer ":
        return True
    return f"{settings.SESSION_COOKIE_NAME}=" in environ.get("HTTP_COOKIE", "")


class _ClosingBoth:
    """The response's iterable, which also closes the body's file when the server is done."""

    def __init__(self, result, body):
        self.result, self.body = result, body

    def __iter__(self):
        return iter(self.result)

    def close(self):
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self.body.close()


def _same_site_path(request, url):
    """The path (and query) of `url` when it is on this site, else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.get_host():
        return None
    path = parts.path or "/"
    if not url_has_allowed_host_and_scheme(path, allowed_hosts={request.get_host()}):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def back_after_login(request):
    """Where a member whose session ended should land after logging in again: the page
    they were on. A fragment's own URL (a poll, a POST-only action) is no page: htmx names
    the page in HX-Current-URL, a plain form post in its Referer."""
    if request.method == "GET" and not request.headers.get("HX-Request"):
        return request.get_full_path()
    page = _same_site_path(request, request.headers.get("HX-Current-URL"))
    page = page or _same_site_path(request, request.headers.get("Referer"))
    return page or resolve_url(settings.LOGIN_REDIRECT_URL)


def login_redirect(request, login_url=None):
    """The answer to a request that needs a login it does not have: htmx is told to send
    the whole tab to the login page (never a login form swapped into a fragment)."""
    login_url = resolve_url(login_url or settings.LOGIN_URL)
    url = login_url + "?" + urlencode({"next": back_after_login(request)}, safe="/")
    if request.headers.get("HX-Request"):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's, but an expired session never puts a login page inside a fragment, and
    logging in again leads back to the page the member was on."""

    def handle_no_permission(self, request, view_func):
        if request.method == "GET" and not request.headers.get("HX-Request"):
            return super().handle_no_permission(request, view_func)
        return login_redirect(request, self.get_login_url(view_func))


class MemberPreferencesMiddleware:
    """Pages in the member's own language and time zone.

    Every request gets the browser's time zone (the `tz` cookie studio.js keeps); a signed-in
    member's page gets their saved language and time zone instead, when they saved one. Only
    views that need a login look at the member (signed image URLs must cost no query), so the
    saved language is also written into the language cookie, for the public pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = languages.time_zone_named(request.COOKIES.get(languages.TIME_ZONE_COOKIE))
        if zone is not None:
            timezone.activate(zone)
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        chosen = getattr(request, "member_language", None)
        if chosen and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != chosen:
            set_language_cookie(response, chosen)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True) or not request.user.is_authenticated:
            return None
        saved = languages.member_preferences(request, request.user)
        language = languages.supported_language(saved["language"])
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = request.member_language = language
        zone = languages.time_zone_named(saved["time_zone"])
        if zone is not None:
            timezone.activate(zone)
        return None


def set_language_cookie(response, language):
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
