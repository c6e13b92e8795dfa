"""The admin app, with its default site swapped for the one that asks staff for a second
factor (generations.accounts.security.StaffAdminSite). Named in INSTALLED_APPS instead of
django.contrib.admin, so `admin.site` everywhere is that site."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "generations.accounts.security.StaffAdminSite"
