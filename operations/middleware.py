"""Response compression for what compresses: Django's GZipMiddleware, text only."""

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
