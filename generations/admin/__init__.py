"""The Django admin: the audit of generations, credits and usage, and the members (one
module per topic)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy

from generations.admin import apikeys, credits, generations, library, members

# Our name at the top of every admin page and in its title, not "Django administration".
admin.site.site_header = gettext_lazy("Banana Studio admin")
admin.site.site_title = gettext_lazy("Banana Studio admin")

__all__ = ["apikeys", "credits", "generations", "library", "members"]
