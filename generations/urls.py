from django.urls import path

from . import credit_views, gallery_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("generate/", views.generate, name="generate"),
    path("credits/", credit_views.ledger, name="credit_ledger"),
    path("credits/price", credit_views.price, name="credit_price"),
    path("g/<uuid:generation_id>/", gallery_views.detail, name="generation_detail"),
    path("g/<uuid:generation_id>/status/", views.status, name="generation_status"),
    path("g/<uuid:generation_id>/retry/", views.retry, name="generation_retry"),
    path(
        "g/<uuid:generation_id>/images/<int:position>/",
        views.result_image,
        name="result_image",
    ),
    path(
        "g/<uuid:generation_id>/images/<int:position>/thumbnail/",
        views.result_image,
        {"variant": "thumbnail"},
        name="result_thumbnail",
    ),
    path(
        "g/<uuid:generation_id>/references/<int:position>/",
        views.reference_image,
        name="reference_image",
    ),
    path("r/<str:token>/", views.reference_public, name="reference_public"),
    path(
        "hooks/upstream/<uuid:generation_id>/<str:secret>/",
        views.upstream_webhook,
        name="upstream_webhook",
    ),
    path("healthz", views.healthz, name="healthz"),
    *gallery_views.urlpatterns,
]
