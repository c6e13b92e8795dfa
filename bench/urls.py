from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import path

from banana_site.urls import urlpatterns as app_urlpatterns
from generations.models import CreditAccount

# L1: a login-required view (LoginRequiredMiddleware), one primary-key SELECT and a
# 20-line fragment.
FRAGMENT = engines["django"].from_string(
    "\n".join(
        [
            '<section class="panel" id="l1">',
            "  <h2>{{ account.user_id }}</h2>",
            *(
                f"  <p>line {n}: {{{{ account.balance }}}} / {{{{ account.held }}}}</p>"
                for n in range(16)
            ),
            "  <p>{{ account.pk }}</p>",
            "</section>",
        ]
    )
)


def l1(request, pk):
    account = get_object_or_404(CreditAccount, pk=pk)
    return HttpResponse(FRAGMENT.render({"account": account}, request))


urlpatterns = [path("bench/l1/<int:pk>/", l1), *app_urlpatterns]
