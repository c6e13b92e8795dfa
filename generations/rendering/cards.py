"""How cards are drawn: templates/components/card.jinja, through the `jinja2` TEMPLATES
backend (its environment and filters: generations/rendering/engine.py), since a page shows
dozens.
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

from django.template import engines
from django.utils.safestring import mark_safe

from generations.rendering import engine

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
    card = engines["jinja2"].get_template(TEMPLATE)
    context = {**DEFAULTS, **values, "variant": variant, "reading": engine.reading()}
    return mark_safe(card.render(context, request))  # noqa: S308 (Jinja2 escaped it)
