from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers


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
            return HttpResponse("Request body too large.", status=413, content_type="text/plain")
        return self.get_response(request)
