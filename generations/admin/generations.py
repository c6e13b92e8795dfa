"""Generations and the team key's health, for admins: read-only audit records."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from generations.admin.base import HistoryAdmin, ReadOnlyInline
from generations.models import Generation, ReferenceImage, ResultImage, UpstreamHealth


class ResultImageInline(ReadOnlyInline):
    model = ResultImage
    fields = ["position", "state", "width", "height", "byte_size", "error_message"]


class ReferenceImageInline(ReadOnlyInline):
    model = ReferenceImage
    fields = ["position", "source_url", "file", "content_type"]


@admin.register(Generation)
class GenerationAdmin(HistoryAdmin):
    list_display = [
        "created_at",
        "owner",
        "model",
        "status",
        "hold_amount",
        "credits_charged",
        "credits_consumed",
        "over_hold",
        "outcome_unknown",
        "duration",
        "thumbnail",
    ]
    list_filter = [
        "status",
        "model",
        "owner",
        "created_at",
        "credit_state",
        "over_hold",
        "outcome_unknown",
    ]
    search_fields = ["prompt", "upstream_task_id"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    inlines = [ReferenceImageInline, ResultImageInline]
    readonly_fields = [f.name for f in Generation._meta.fields]
    exclude = ["webhook_secret_hash"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("results")

    @admin.display(description=_("duration"))
    def duration(self, obj):
        if obj.finished_at:
            return f"{(obj.finished_at - obj.created_at).total_seconds():.0f} s"
        return "—"

    @admin.display(description=_("image"))
    def thumbnail(self, obj):
        for result in obj.results.all():
            if result.is_stored:
                return format_html(
                    '<img src="{}" width="{}" height="{}" style="max-height:48px;width:auto">',
                    reverse("result_thumbnail", args=[obj.pk, result.position]),
                    result.thumbnail_width,
                    result.thumbnail_height,
                )
        return "—"


@admin.register(UpstreamHealth)
class UpstreamHealthAdmin(HistoryAdmin):
    list_display = ["key_rejected_since", "key_last_rejected_at"]
