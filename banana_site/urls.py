from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("generations.accounts.urls")),
    path("", include("generations.api.urls")),
    path("", include("operations.urls")),
    path("", include("generations.urls")),
]

handler403 = "generations.views.common.permission_denied"
