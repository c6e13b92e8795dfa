"""Signed image URLs for pages: `{{ result.thumbnail|signed }}`.

Use only in pages rendered for someone who may see the image: the URL itself is the
permission (generations/storage.py).
"""

from django import template

from generations import quota, storage

register = template.Library()


@register.filter
def signed(field_file):
    """A signed, expiring URL of a stored file; empty for a file that is not set."""
    name = getattr(field_file, "name", "") or ""
    return storage.signed_url(name) if name else ""


@register.simple_tag(takes_context=True)
def storage_usage(context):
    """The signed-in member's storage: `{% storage_usage as usage %}{{ usage }}`."""
    return quota.usage_of(context["request"].user)
