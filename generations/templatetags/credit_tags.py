import functools
import uuid
from decimal import Decimal

from django import template
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.template.defaultfilters import truncatechars
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.translation import ngettext

from .. import catalogue
from ..credits import format_credits, reason_in_language
from ..models import Generation

register = template.Library()


@register.filter
def credits(value):
    """A credit amount without trailing zeros: 0.5, 10, 1.25."""
    if value is None or value == "":
        return ""
    return format_credits(value)


@register.filter
def ledger_reason(value):
    return reason_in_language(value)


@register.filter
def credits_label(value):
    """An amount with its unit, in one form everywhere: "0.5 credits", "1 credit"."""
    if value is None or value == "":
        return ""
    amount = Decimal(value)
    return ngettext("%(amount)s credit", "%(amount)s credits", 1 if amount == 1 else 2) % {
        "amount": format_credits(amount)
    }


@register.filter
def model_label(model_id):
    """The name members know a model by, not its id."""
    return catalogue.label_of(model_id or "")


@register.simple_tag
def url_or(preferred, fallback, *args):
    """The URL of `preferred` when that route exists, else of `fallback` (a route another
    part of the app may or may not provide yet)."""
    try:
        return path(preferred, *args)
    except NoReverseMatch:
        return path(fallback, *args)


@register.simple_tag
def path(name, *args):
    """`{% url %}` for the links every card repeats: each route is reversed once per process
    with sample arguments, then filled in, since a page of cards asks for dozens of them."""
    kinds = tuple(type(arg) for arg in args)
    if not all(kind in _SAMPLES for kind in kinds):
        return reverse(name, args=args)
    url, samples = _route(name, kinds, get_script_prefix(), get_urlconf(settings.ROOT_URLCONF))
    for sample, arg in zip(samples, args, strict=True):
        url = url.replace(sample, str(arg))
    return url


_SAMPLES = {
    uuid.UUID: lambda n: uuid.UUID(int=0xB0A0A0 + n),
    int: lambda n: 987_650_000 + n,
}


@functools.lru_cache(maxsize=256)
def _route(name, kinds, prefix, urlconf):
    samples = [_SAMPLES[kind](n) for n, kind in enumerate(kinds)]
    return reverse(name, args=samples, urlconf=urlconf), [str(s) for s in samples]


_STATUS_LABELS = dict(Generation.Status.choices)


@register.filter
def status_label(status):
    """`get_status_display` without building the choices anew for every card."""
    return str(_STATUS_LABELS.get(status, status))


@register.filter(is_safe=True)
def clip(text, length):
    """`truncatechars`, without its Unicode normalising for the many prompts that fit."""
    return text if len(text) <= length else truncatechars(text, length)


@register.filter
def made_with_key(generation):
    """Whether an API key made it: `generation.api_task` in a template costs an exception
    (and Django's every other lookup) on each card that has none."""
    try:
        return generation.api_task is not None
    except ObjectDoesNotExist:
        return False


@register.filter
def iso(moment):
    """`date:'c'` (ISO 8601 in the current time zone), without the date formatter."""
    return timezone.localtime(moment).isoformat() if moment else ""
