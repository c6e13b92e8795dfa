"""Admin for credits: accounts (grant/adjust), the read-only ledger, prices, the team's cap,
and the usage report."""

from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from generations import credits, quota, usage
from generations.admin.base import HistoryAdmin
from generations.models import CreditAccount, CreditLedgerEntry, ModelPrice, TeamMonth, TeamSettings


class LimitFilter(admin.SimpleListFilter):
    title = gettext_lazy("limit")
    parameter_name = "limit"

    def lookups(self, request, model_admin):
        return [
            ("near", gettext_lazy("Near or at the limit")),
            ("at", gettext_lazy("At the limit")),
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        wanted = {"near", "at"} if self.value() == "near" else {"at"}
        states = credits.limit_states(queryset)
        return queryset.filter(pk__in=[pk for pk, state in states.items() if state in wanted])


class CreditChangeForm(forms.Form):
    KIND_CHOICES = [
        ("grant", gettext_lazy("Grant (add credits)")),
        ("adjustment", gettext_lazy("Adjust (add or take away)")),
    ]
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=KIND_CHOICES)
    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=12, decimal_places=6)
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}))
    key = forms.CharField(widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("kind") == "grant" and data.get("amount") is not None and data["amount"] <= 0:
            self.add_error("amount", _("A grant must be positive."))
        if data.get("amount") == 0:
            self.add_error("amount", _("Enter an amount other than zero."))
        return data


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "balance",
        "held",
        "allowance",
        "spent_this_month",
        "limit_state",
        "max_in_flight",
        "max_per_minute",
        "storage",
    ]
    list_filter = [LimitFilter]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    # Balances move only through the ledger (the grant/adjust form), never by editing.
    readonly_fields = ["user", "balance", "held", "allowance_period"]
    fields = [
        "user",
        "balance",
        "held",
        "monthly_allowance",
        "allowance_period",
        "max_in_flight",
        "max_per_minute",
        "storage_quota_mb",
    ]
    actions = ["grant_or_adjust"]

    def get_queryset(self, request):
        # What each member's images take, in the changelist's one query.
        return quota.annotate_usage(super().get_queryset(request))

    @admin.display(description=gettext_lazy("storage"), ordering="storage_used")
    def storage(self, obj):
        return quota.usage_of_row(obj).amounts

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("monthly allowance"))
    def allowance(self, obj):
        return credits.allowance_of(obj)

    @admin.display(description=gettext_lazy("spent this month"))
    def spent_this_month(self, obj):
        return credits.spent_between([obj.pk], credits.month_start_datetime()).get(
            obj.pk, Decimal(0)
        )

    @admin.display(description=gettext_lazy("limit"))
    def limit_state(self, obj):
        state = credits.limit_states([obj])[obj.pk]
        return {"at": _("at the limit"), "near": _("near the limit")}.get(state, "—")

    @admin.action(description=gettext_lazy("Grant or adjust credits…"), permissions=["change"])
    def grant_or_adjust(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return redirect(reverse("admin:generations_creditaccount_grant") + f"?ids={ids}")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("grant/", wrap(self.grant_view), name="generations_creditaccount_grant"),
            path("usage/", wrap(self.usage_view), name="generations_usage"),
            path("usage.csv", wrap(self.usage_csv_view), name="generations_usage_csv"),
            *super().get_urls(),
        ]

    def grant_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit()]
        accounts = list(CreditAccount.objects.filter(pk__in=ids).select_related("user"))
        if not accounts:
            messages.error(request, _("Choose at least one account."))
            return redirect("admin:generations_creditaccount_changelist")
        form = CreditChangeForm(
            request.POST or None, initial={"kind": "grant", "key": timezone.now().isoformat()}
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            change = credits.grant if data["kind"] == "grant" else credits.adjust
            for account in accounts:
                # The form's key makes a double-submitted form post once.
                change(
                    account.user,
                    data["amount"],
                    request.user,
                    data["reason"],
                    key=f"admin:{data['kind']}:{account.pk}:{data['key']}",
                )
            messages.success(
                request,
                ngettext(
                    "Credits changed for %(n)d account.",
                    "Credits changed for %(n)d accounts.",
                    len(accounts),
                )
                % {"n": len(accounts)},
            )
            return redirect("admin:generations_creditaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Grant or adjust credits"),
            "form": form,
            "accounts": accounts,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/generations/credit_grant.html", context)

    def _range(self, request):
        today = timezone.localdate()
        try:
            start = date.fromisoformat(request.GET.get("start", ""))
        except ValueError:
            start = today - timedelta(days=29)
        try:
            end = date.fromisoformat(request.GET.get("end", ""))
        except ValueError:
            end = today
        if end < start:
            start, end = end, start
        return start, min(end, start + timedelta(days=366))

    def usage_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        start, end = self._range(request)
        period = request.GET.get("period", "day")
        if period not in usage.PERIODS:
            period = "day"
        accounts = CreditAccount.objects.select_related("user")
        states = credits.limit_states(accounts)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Usage report"),
            "opts": self.model._meta,
            "start": start,
            "end": end,
            "period": period,
            "periods": list(usage.PERIOD_LABELS.items()),
            "by_member": usage.by_member(start, end, period),
            "by_model": usage.by_model(start, end),
            "chart": usage.spend_chart_svg(usage.daily_spend(start, end), start, end),
            "near_limit": [(a, states[a.pk]) for a in accounts if states.get(a.pk)],
        }
        return TemplateResponse(request, "admin/generations/usage_report.html", context)

    def usage_csv_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        start, end = self._range(request)
        response = StreamingHttpResponse(
            usage.csv_lines(start, end), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="usage-{start}-{end}.csv"'
        return response


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(HistoryAdmin):
    """Read-only for everyone, superusers included: the ledger is history."""

    list_display = [
        "created_at",
        "account",
        "kind",
        "amount",
        "held_delta",
        "balance_after",
        "generation_ref",
        "actor",
        "reason",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__user__username", "idempotency_key", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["account__user", "actor"]

    # The id alone (no query per row), under a heading that can be translated.
    @admin.display(description=gettext_lazy("generation"))
    def generation_ref(self, obj):
        return obj.generation_id


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ["model", "image_size", "price"]
    list_editable = ["price"]


@admin.register(TeamSettings)
class TeamSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "monthly_team_cap",
        "default_monthly_allowance",
        "starting_credits",
        "default_storage_quota_mb",
        "members_make_team_presets",
    ]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not TeamSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TeamMonth)
class TeamMonthAdmin(HistoryAdmin):
    list_display = ["month", "committed"]
