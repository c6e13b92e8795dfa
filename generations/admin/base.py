"""What every admin of ours builds on: records nobody may rewrite."""

from django.contrib import admin


class HistoryAdmin(admin.ModelAdmin):
    """Records of what happened: nobody adds, edits or deletes them here, superusers
    included. (Generations are deleted, softly, from the app.)"""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
