"""Cards in the template language: `{% card "gallery" generation=generation mode=mode %}`
(generations/rendering/cards.py draws them), and the helpers cards share with the pages
around them."""

from django import template

from generations.rendering import cards, engine

register = template.Library()

register.simple_tag(engine.original_removed, name="original_removed")


@register.simple_tag(takes_context=True)
def card(context, variant, **values):
    """One card: the variant's name, then what it needs (cards.py)."""
    return cards.render_card(context.get("request"), variant, **values)
