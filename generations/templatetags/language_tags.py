from django import template
from django.urls import reverse
from django.utils.translation import get_language

from generations import languages

register = template.Library()


@register.simple_tag
def javascript_catalog_url():
    """studio.js's strings in the page's language (generations.views.languages)."""
    return reverse("javascript_catalog", args=[get_language(), languages.catalogue_version()])
