"""Members' API keys for admins: see every key and revoke any; the callback deliveries."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from generations.admin.base import HistoryAdmin, ReadOnlyInline
from generations.api import keys
from generations.models import ApiKey, CallbackAttempt, CallbackDelivery


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("Active")), ("revoked", _("Revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made by their members (the secret is shown to them once); admins see them
    all, change their limits, and revoke them. Nobody deletes one: its history stays."""

    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "monthly_budget",
        "revoked_at",
    ]
    list_filter = [StateFilter, "user"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    fields = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "monthly_budget",
        "allowed_models",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    actions = ["revoke_keys"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        revoked = sum(keys.revoke(key, request.user) for key in queryset)
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", revoked)
            % {"count": revoked},
            messages.SUCCESS,
        )


class CallbackAttemptInline(ReadOnlyInline):
    model = CallbackAttempt
    fields = ["number", "at", "status_code", "error", "duration_ms"]


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(HistoryAdmin):
    list_display = [
        "created_at",
        "key",
        "generation",
        "url",
        "state",
        "attempts",
        "last_status_code",
    ]
    list_filter = ["state"]
    search_fields = ["url", "key__name", "key__user__username"]
    list_select_related = ["key", "generation"]
    exclude = ["body"]
    inlines = [CallbackAttemptInline]
