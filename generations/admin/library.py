"""The library's assets and the style presets in the admin: admins see and may remove any
asset (its file goes only when nothing names it: `library.delete_asset`)."""

from django.contrib import admin

from generations import library
from generations.models import LibraryAsset, StylePreset


@admin.register(LibraryAsset)
class LibraryAssetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "visibility", "tags", "use_count", "created_at"]
    list_filter = ["visibility"]
    search_fields = ["name", "tags", "owner__username"]
    readonly_fields = [
        "owner",
        "file",
        "content_hash",
        "content_type",
        "width",
        "height",
        "size",
        "use_count",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        library.delete_asset(obj)

    def delete_queryset(self, request, queryset):
        for asset in queryset:
            library.delete_asset(asset)


@admin.register(StylePreset)
class StylePresetAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "owner", "model", "updated_at"]
    list_filter = ["scope"]
    search_fields = ["name", "template"]
    autocomplete_fields = ["assets"]
    # The defaults are checked against the catalogue on the presets page (library_forms.py);
    # here they are only read, so no default the composer or the APIs refuse can be saved.
    readonly_fields = ["owner", "model", "aspect_ratio", "image_size", "count"]

    def has_add_permission(self, request):
        # Made on the presets page, where the owner is the member who makes it.
        return False
