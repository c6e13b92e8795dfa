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

from generations import catalogue, credits, quota, usage
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


def credit_column(model, field_name):
    """A credit amount as people read it (89, 0.5), not as it is stored (89.000000), under
    the field's own name and sortable by it."""

    @admin.display(description=model._meta.get_field(field_name).verbose_name, ordering=field_name)
    def column(self, obj):
        value = getattr(obj, field_name)
        return "—" if value is None else credits.format_credits(value)

    return column


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "balance_amount",
        "held_amount",
        "this_month",
        "in_flight",
        "per_minute",
        "storage",
    ]
    list_filter = [LimitFilter]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    # Balances move only through the ledger (the grant/adjust form), never by editing.
    readonly_fields = ["user", "balance_amount", "held_amount", "allowance_period"]
    fields = [
        "user",
        "balance_amount",
        "held_amount",
        "monthly_allowance",
        "allowance_period",
        "max_in_flight",
        "max_per_minute",
        "storage_quota_mb",
    ]
    actions = ["grant_or_adjust"]
    balance_amount = credit_column(CreditAccount, "balance")
    held_amount = credit_column(CreditAccount, "held")

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

    # Spent, allowance and limit in one column, and short headings for the rate limits: the
    # table fits a 1280 px screen beside the admin's menu and the filter.
    @admin.display(description=gettext_lazy("this month"))
    def this_month(self, obj):
        spent = credits.spent_between([obj.pk], credits.month_start_datetime())
        text = _("%(spent)s of %(allowance)s") % {
            "spent": credits.format_credits(spent.get(obj.pk, Decimal(0))),
            "allowance": credits.format_credits(credits.allowance_of(obj)),
        }
        state = credits.limit_states([obj])[obj.pk]
        note = {"at": _("at the limit"), "near": _("near the limit")}.get(state)
        return f"{text} · {note}" if note else text

    @admin.display(description=gettext_lazy("in flight"), ordering="max_in_flight")
    def in_flight(self, obj):
        return "—" if obj.max_in_flight is None else obj.max_in_flight

    @admin.display(description=gettext_lazy("per minute"), ordering="max_per_minute")
    def per_minute(self, obj):
        return "—" if obj.max_per_minute is None else obj.max_per_minute

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
        "amount_column",
        "held_delta_column",
        "balance_after_column",
        "generation_ref",
        "actor",
        "reason",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__user__username", "idempotency_key", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["account__user", "actor"]
    amount_column = credit_column(CreditLedgerEntry, "amount")
    held_delta_column = credit_column(CreditLedgerEntry, "held_delta")
    balance_after_column = credit_column(CreditLedgerEntry, "balance_after")

    # The id alone (no query per row), under a heading that can be translated.
    @admin.display(description=gettext_lazy("generation"))
    def generation_ref(self, obj):
        return obj.generation_id


def _price_model_choices():
    return [(option.id, f"{option.label} ({option.id})") for option in catalogue.model_options()]


def _price_size_choices():
    sizes = dict.fromkeys(size for option in catalogue.model_options() for size in option.sizes)
    return [("", gettext_lazy("Any size")), *((size, size.upper()) for size in sizes)]


class ModelPriceForm(forms.ModelForm):
    """Model and size picked from the catalogue: a price typed for a name or a size that no
    generation ever has would be saved and never apply."""

    model = forms.ChoiceField(label=gettext_lazy("model"), choices=_price_model_choices)
    image_size = forms.ChoiceField(
        label=gettext_lazy("image size"),
        choices=_price_size_choices,
        required=False,
        help_text=gettext_lazy("Any size: the model's price for every size without its own."),
    )

    class Meta:
        model = ModelPrice
        fields = ["model", "image_size", "price"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A row saved for a model no longer on offer can still be opened (and deleted).
        current = self.instance.model if self.instance.pk else ""
        if current and catalogue.get_model_option(current) is None:
            field = self.fields["model"]
            field.choices = [
                *field.choices,
                (current, _("%(model)s (no longer on offer)") % {"model": current}),
            ]

    def clean(self):
        data = super().clean()
        option = catalogue.get_model_option(data.get("model"))
        size = data.get("image_size") or ""
        if data.get("model") and option is None:
            self.add_error(
                "model", _("This model is no longer on offer: its price can never apply.")
            )
        elif option is not None and size and size not in option.sizes:
            message = (
                _("%(model)s takes no image size: choose “Any size”.")
                if not option.sizes
                else _("%(model)s does not take %(size)s; it takes %(sizes)s.")
            )
            self.add_error(
                "image_size",
                message
                % {
                    "model": option.label,
                    "size": size.upper(),
                    "sizes": ", ".join(s.upper() for s in option.sizes),
                },
            )
        return data


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    form = ModelPriceForm
    list_display = ["model", "image_size", "price"]
    list_editable = ["price"]


@admin.register(TeamSettings)
class TeamSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "monthly_team_cap_amount",
        "default_monthly_allowance_amount",
        "starting_credits_amount",
        "default_storage_quota_mb",
        "members_make_team_presets",
    ]
    monthly_team_cap_amount = credit_column(TeamSettings, "monthly_team_cap")
    default_monthly_allowance_amount = credit_column(TeamSettings, "default_monthly_allowance")
    starting_credits_amount = credit_column(TeamSettings, "starting_credits")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not TeamSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TeamMonth)
class TeamMonthAdmin(HistoryAdmin):
    list_display = ["month", "committed_amount"]
    committed_amount = credit_column(TeamMonth, "committed")
