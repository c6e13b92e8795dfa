from decimal import Decimal

from django import template
from django.utils.translation import ngettext

from generations import catalogue
from generations.credits import format_credits, reason_in_language

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
