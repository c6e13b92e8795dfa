"""How cards are drawn: templates/components/card.jinja, through Jinja2.

A page of cards is most of what the studio and the galleries cost: the template language
spent some 2,500 Python calls on each card, Jinja2's compiled template a tenth of that.
Pages stay in the template language and place a card with `{% card variant … %}`
(templatetags/card_tags.py). The variants, and what each needs besides `request`:

  tile        one generation's image(s) and state (generation; oob): the thumbnail (a click
              opens the lightbox), status, elapsed time, cost, the actions menu; the error,
              what it cost and Retry once failed; Cancel while still queued. While
              generation.needs_polling it carries a watch input: the page's one poller
              (base.html) sends every such input to generation_statuses every 2 s, and
              changed tiles come back as out-of-band swaps (oob=True). Every other variant
              is built around tiles, so a tile swapped in fits wherever it is.
  job         the studio's card of one submit (job, a list of generations): its tiles side
              by side, then the prompt and settings once.
  gallery     one generation in "My history" or the team gallery (generation, mode): who
              (team gallery), model, date, a Private badge; a checkbox for the page's bulk
              actions (form="bulk").
  collection  one item of a collection (generation, collection, is_owner, first, last): the
              bulk checkbox, move up or down, remove.
  public      one shared image on a share page (generation, link, result): the prompt and
              the author only when the link shows them, and no link into the studio.

A card's actions (retry, cancel, move, remove) are buttons of the page's one form,
#card-actions in base.html, each with its own formaction: without JavaScript they post that
form (its CSRF token and the page to come back to); htmx posts the same URL, the token in
its header.

Its words are marked as `_("…")`, which makemessages reads in .jinja files as it does in
templates (generations/translations.py); a message with values is `_("… %(name)s …")|format(…)`.
"""

import functools
import time
import uuid

import jinja2
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.template.defaultfilters import floatformat, truncatechars
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext, ngettext, npgettext, pgettext

from generations import storage
from generations.models import Generation
from generations.templatetags.credit_tags import credits_label, model_label

TEMPLATE = "components/card.jinja"
# What a variant does not need is None (or False), never missing: the environment's
# undefined values are strict, so a misspelt name fails loudly in tests.
DEFAULTS = {
    "generation": None,
    "job": None,
    "oob": False,
    "mode": None,
    "collection": None,
    "is_owner": False,
    "first": False,
    "last": False,
    "link": None,
    "result": None,
}


def render_card(request, variant, **values):
    card = environment().get_template(TEMPLATE)
    # The request's script prefix and URL configuration, read once for the card's links.
    links = functools.partial(_path, get_script_prefix(), get_urlconf(settings.ROOT_URLCONF))
    context = {**DEFAULTS, **values, "request": request, "variant": variant, "path": links}
    return mark_safe(card.render(context))  # noqa: S308 (Jinja2 escaped it)


# --- What cards show (`path` and `original_removed` are template-language tags too) -------


def path(name, *args):
    """`{% url %}` for the links every card repeats: each route is reversed once per process
    with sample arguments, then filled in, since a page of cards asks for dozens of them."""
    return _path(get_script_prefix(), get_urlconf(settings.ROOT_URLCONF), name, *args)


def _path(prefix, urlconf, name, *args):
    kinds = tuple(type(arg) for arg in args)
    if not all(kind in _SAMPLES for kind in kinds):
        return reverse(name, args=args, urlconf=urlconf)
    url, samples = _route(name, kinds, prefix, urlconf)
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


def status_label(status):
    """`get_status_display` without building the choices anew for every card."""
    return str(_STATUS_LABELS.get(status, status))


def clip(text, length):
    """`truncatechars`, without its Unicode normalising for the many prompts that fit."""
    return text if len(text) <= length else truncatechars(text, length)


def made_with_key(generation):
    """Whether an API key made it: `generation.api_task` costs an exception on each card
    that has none."""
    try:
        return generation.api_task is not None
    except ObjectDoesNotExist:
        return False


def iso(moment):
    """`date:'c'` (ISO 8601 in the current time zone), without the date formatter."""
    return timezone.localtime(moment).isoformat() if moment else ""


def local_date(moment, format_name):
    """The template language's `date` filter: in the current time zone and language."""
    if not moment:
        return ""
    return _date_text(moment, timezone.get_current_timezone(), get_language(), format_name)


# A card's date reads the same on every page load: formatted once per process.
@functools.lru_cache(maxsize=4096)
def _date_text(moment, zone, language, format_name):
    return formats.date_format(timezone.localtime(moment, zone), format_name)


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


def original_removed():
    """What a card says once retention removed its original (the thumbnail stays)."""
    days = settings.BANANA_RETENTION_DAYS
    if not days:
        return gettext("Original removed")
    return ngettext(
        "Original removed after %(days)s day", "Original removed after %(days)s days", days
    ) % {"days": days}


@functools.cache
def environment():
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.BASE_DIR / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=settings.DEBUG,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(gettext, ngettext, pgettext=pgettext, npgettext=npgettext)
    env.filters.update(
        {
            "clip": clip,
            "credits_label": credits_label,
            "date": local_date,
            "floatformat": floatformat,
            "iso": iso,
            "made_with_key": made_with_key,
            "model_label": model_label,
            "status_label": status_label,
        }
    )
    env.globals.update(
        {
            "gettext": gettext,
            "original_removed": original_removed,
            "thumbnail_url": thumbnail_url,
            "url": lambda name, *args: reverse(name, args=args),
        }
    )
    return env
