"""Path converters for the secrets public URLs carry: anything malformed matches no route,
so it answers 404 before any view, database query or rate-limit counter sees it.
Importing this module registers them as <token:>, <signed:> and <secret:>, and tells
operations that what they match is secret: no log line shows it (operations/redaction.py
derives which paths to redact from the routes that use them)."""

from django.urls import register_converter

from operations.registry import register_secret_converter


class UrlSafeTokenConverter:
    """Share tokens and webhook secrets: `secrets.token_urlsafe(32)` (43 characters)."""

    regex = "[A-Za-z0-9_-]{16,64}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class SignedTokenConverter(UrlSafeTokenConverter):
    """`django.core.signing` values: the signed text, a timestamp and a signature."""

    regex = "[A-Za-z0-9_:-]{1,200}"


class SecretSegmentConverter(UrlSafeTokenConverter):
    """A secret whose shape another library decides (Django's password-reset token, and the
    "set-password" step that replaces it): any one path segment, as <str:> matches."""

    regex = "[^/]+"


for converter, name in (
    (UrlSafeTokenConverter, "token"),
    (SignedTokenConverter, "signed"),
    (SecretSegmentConverter, "secret"),
):
    register_converter(converter, name)
    register_secret_converter(converter)
