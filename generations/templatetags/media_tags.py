"""Signed image URLs for pages: `{{ result.thumbnail|signed }}`.

Use only in pages rendered for someone who may see the image: the URL itself is the
permission (generations/storage.py).
"""

import functools
import time

from django import template
from django.conf import settings
from django.urls import get_script_prefix

from .. import quota, storage
from .credit_tags import path

register = template.Library()


@register.filter
def signed(field_file):
    """A signed, expiring URL of a stored file; empty for a file that is not set."""
    name = getattr(field_file, "name", "") or ""
    return storage.signed_url(name) if name else ""


@register.simple_tag
def retention_days():
    return settings.BANANA_RETENTION_DAYS


@register.simple_tag
def thumbnail_url(generation, result):
    """A card's thumbnail: signed, or (no thumbnail file) the permission-checked route.
    A signed URL stays the same for a whole window of BANANA_MEDIA_URL_TTL (storage.py), so
    it is signed once per window and process, not on every page that shows the card."""
    name = result.thumbnail.name
    if name:
        ttl = settings.BANANA_MEDIA_URL_TTL
        window = (int(time.time()) // ttl, ttl, settings.SECRET_KEY)
        return _signed_in_window(name, window, get_script_prefix())
    return path("result_thumbnail", generation.pk, result.position)


@functools.lru_cache(maxsize=4096)
def _signed_in_window(name, window, prefix):
    return storage.signed_url(name)


@register.simple_tag(takes_context=True)
def storage_usage(context):
    """The signed-in member's storage: `{% storage_usage as usage %}{{ usage }}`."""
    return quota.usage_of(context["request"].user)
