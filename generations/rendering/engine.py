"""The Jinja2 environment of the `jinja2` TEMPLATES backend (banana_site/settings.py), as
Zulip registers its own: cards (templates/components/card.jinja, generations/rendering/
cards.py) are drawn by it, since a page shows dozens.

Its filters are Django's own (`date`, `truncatechars`, `floatformat`; `url` is
`django.urls.reverse`), so a card writes a date or a link exactly as the page around it
does; a status is its TextChoices label (`Generation.Status(status).label`, what
`get_status_display` reads, for a tenth of its cost: that rebuilds the choices and
translates all eight labels on every call). A page of cards asks for the same links,
dates and short prompts on every load, so each answer is kept per process for its
arguments and the render's `reading` (what they depend on besides: language, time zone,
script prefix, URL configuration), taken once per card. Ours: `credits_label` and
`model_label` (as pages use them), `made_with_key`, `thumbnail_url`,
`original_removed` and `may_edit` (generations/threads.py: whether the lightbox offers Edit).
"""

import datetime
import functools
import time
from typing import Any

import jinja2
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.template import defaultfilters
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext, npgettext, pgettext

from generations import storage
from generations.templatetags.credit_tags import credits_label, model_label
from generations.threads import may_edit

type Reading = tuple[str | None, datetime.tzinfo, str, Any]


def environment(**options: Any) -> jinja2.Environment:
    # A misspelt name fails loudly in tests; a variant's unused values are None (cards.py).
    options["undefined"] = jinja2.StrictUndefined
    options.pop("autoescape", None)  # Django's backend asks for it too
    env = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"], **options)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, pgettext=pgettext, npgettext=npgettext
    )
    env.filters.update(
        {
            "credits_label": credits_label,
            "date": date,
            "floatformat": defaultfilters.floatformat,
            "made_with_key": made_with_key,
            "model_label": model_label,
            "truncatechars": truncatechars,
        }
    )
    env.globals.update(
        {
            "gettext": gettext,
            "may_edit": may_edit,
            "original_removed": original_removed,
            "thumbnail_url": thumbnail_url,
            "url": url,
        }
    )
    return env


def reading() -> Reading:
    """What Django's `date`, `truncatechars` and `reverse` read besides their arguments."""
    return get_language(), timezone.get_current_timezone(), get_script_prefix(), get_urlconf()


def _reading_of(context: jinja2.runtime.Context) -> Reading:
    kept = context.get("reading")
    return kept if kept is not None else reading()


@jinja2.pass_context
def date(context: jinja2.runtime.Context, value: Any, arg: str | None = None) -> str:
    return _date(_reading_of(context), value, arg)


@functools.lru_cache(maxsize=4096)
def _date(reading: Reading, value: Any, arg: str | None) -> str:
    # In the current time zone, as the template language hands a moment to `date`.
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value, reading[1])
    return str(defaultfilters.date(value, arg))


@jinja2.pass_context
def truncatechars(context: jinja2.runtime.Context, value: Any, length: int) -> str:
    return _truncatechars(_reading_of(context), value, length)


# typed: a SafeString and an equal str are two keys (the filter keeps what is safe safe).
@functools.lru_cache(maxsize=4096, typed=True)
def _truncatechars(reading: Reading, value: Any, length: int) -> str:
    return str(defaultfilters.truncatechars(value, length))


@jinja2.pass_context
def url(context: jinja2.runtime.Context, name: str, *args: Any) -> str:
    return _url(_reading_of(context), name, *args)


@functools.lru_cache(maxsize=4096)
def _url(reading: Reading, name: str, *args: Any) -> str:
    return reverse(name, args=args)


def made_with_key(generation: Any) -> bool:
    """Whether an API key made it (`generation.api_task` raises when none did)."""
    try:
        return generation.api_task is not None
    except ObjectDoesNotExist:
        return False


def thumbnail_url(generation: Any, result: Any) -> str:
    """A card's thumbnail: signed, or (no thumbnail file) the permission-checked route.
    A signed URL stays the same for a whole window of BANANA_MEDIA_URL_TTL (storage.py), so
    it is signed once per window and process, not on every page that shows the card."""
    name = result.thumbnail.name
    if name:
        ttl = settings.BANANA_MEDIA_URL_TTL
        window = (int(time.time()) // ttl, ttl, settings.SECRET_KEY)
        return _signed_in_window(name, window, get_script_prefix())
    return reverse("result_thumbnail", args=[generation.pk, result.position])


@functools.lru_cache(maxsize=4096)
def _signed_in_window(name: str, window: tuple[int, int, str], prefix: str) -> str:
    return storage.signed_url(name)


def original_removed() -> str:
    """What a card says once retention removed its original (the thumbnail stays)."""
    days = settings.BANANA_RETENTION_DAYS
    if not days:
        return gettext("Original removed")
    return ngettext(
        "Original removed after %(days)s day", "Original removed after %(days)s days", days
    ) % {"days": days}
