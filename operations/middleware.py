"""Response compression for what compresses: Django's GZipMiddleware, text only; and a
streamed response's database connection given back before the stream starts."""

from django.db import connection
from django.middleware.gzip import GZipMiddleware

# Images, downloads and archives are compressed already: gzipping them again costs CPU,
# drops their Content-Length and gains nothing.
COMPRESSIBLE_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
)


class TextGZipMiddleware(GZipMiddleware):
    """Django's GZipMiddleware, with its BREACH mitigation (random bytes in each gzip
    header, so compressed lengths do not reveal a secret on the page), for text responses:
    pages, htmx fragments, JSON, metrics. Static files never reach it: WhiteNoise, above it,
    serves them precompressed (Brotli and gzip, made by collectstatic)."""

    def process_response(self, request, response):
        content_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if not content_type.startswith(COMPRESSIBLE_TYPES):
            return response
        return super().process_response(request, response)


class ReleaseConnectionForStreamsMiddleware:
    """A streamed answer (a ZIP, an image file) may take a slow client minutes, and Django
    keeps a request's database connection until its answer is sent: with a pool of a few
    connections per process, a few downloads would leave pages none. The view has read
    what it needs by now, so the connection goes back to the pool before the stream
    starts (a stream that queries takes one again)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.streaming and not connection.in_atomic_block:
            connection.close()
        return response
