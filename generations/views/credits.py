"""The member's credits: their own ledger, and the price preview of the compose form."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from generations import credits
from generations.models import CreditLedgerEntry

LEDGER_PAGE_SIZE = 50


@require_GET
def ledger(request):
    """The member's own ledger, newest first; nobody sees another member's entries here,
    staff included. Keyset paging (`?before=<id>`): an old page costs what the first does."""
    account = credits.account_for(request.user)
    entries = CreditLedgerEntry.objects.filter(account=account).select_related("actor")
    before = request.GET.get("before", "")
    if before.isdigit():
        entries = entries.filter(pk__lt=int(before))
    rows = list(entries.order_by("-pk")[: LEDGER_PAGE_SIZE + 1])
    context = {
        "entries": rows[:LEDGER_PAGE_SIZE],
        "older": rows[LEDGER_PAGE_SIZE - 1].pk if len(rows) > LEDGER_PAGE_SIZE else None,
        "is_first_page": not before.isdigit(),
        "account": account,
    }
    return render(request, "generations/credits.html", context)


@require_GET
def price(request):
    """The price of a model, size and number of images, for the compose form's preview: the
    same rule the holds follow."""
    amount = credits.price_of_job(
        request.GET.get("model", ""), request.GET.get("image_size"), request.GET.get("count", 1)
    )
    return render(request, "generations/home.html#price_text", {"price": amount})
