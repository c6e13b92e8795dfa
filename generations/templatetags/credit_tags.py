from django import template

from ..credits import format_credits

register = template.Library()


@register.filter
def credits(value):
    """A credit amount without trailing zeros: 0.5, 10, 1.25."""
    if value is None or value == "":
        return ""
    return format_credits(value)
