"""Cards in the template language: `{% card "gallery" generation=generation mode=mode %}`
(generations/card_rendering.py draws them), and the helpers cards share with the pages
around them."""

from django import template

from .. import card_rendering

register = template.Library()

register.simple_tag(card_rendering.path, name="path")
register.simple_tag(card_rendering.original_removed, name="original_removed")


@register.simple_tag(takes_context=True)
def card(context, variant, **values):
    """One card: the variant's name, then what it needs (card_rendering.py)."""
    return card_rendering.render_card(context.get("request"), variant, **values)
