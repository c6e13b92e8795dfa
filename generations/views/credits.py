"""The member's credits: their own ledger, and the price preview of the compose form."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import credits
from ..models import CreditLedgerEntry

LEDGER_PAGE_SIZE = 50


@require_GET
def ledger(request):
    """The member's own ledger; nobody sees another member's entries here, staff included."""
    account = credits.account_for(request.user)
    entries = CreditLedgerEntry.objects.filter(account=account).select_related("actor")
    page = Paginator(entries, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "generations/credits.html", {"page": page, "account": account})


@require_GET
def price(request):
    """The price of a model, size and number of images, for the compose form's preview: the
    same rule the holds follow."""
    amount = credits.price_of_job(
        request.GET.get("model", ""), request.GET.get("image_size"), request.GET.get("count", 1)
    )
    return render(request, "generations/home.html#price_text", {"price": amount})
