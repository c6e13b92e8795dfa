"""Path converters for the secrets public URLs carry: anything malformed matches no route,
so it answers 404 before any view, database query or rate-limit counter sees it.
Importing this module registers them as <token:> and <signed:>."""

from django.urls import register_converter


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


register_converter(UrlSafeTokenConverter, "token")
register_converter(SignedTokenConverter, "signed")
