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
