"""The routes of the APIs that personal keys open (bearer key, no session), their docs,
and the member's keys page."""

from django.urls import path

from generations import converters  # noqa: F401  (registers <token:> and <signed:>)
from generations.api import openai_compat, views

urlpatterns = [
    # Personal API keys, and the APIs they open (bearer key, no session)
    path("keys/", views.api_keys, name="api_keys"),
    path("keys/<uuid:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("api/docs/", views.docs, name="api_docs"),
    path("api/openapi.json", views.openapi_document, name="api_openapi"),
    path("api/image/gen", views.image_gen, name="api_image_gen"),
    path("api/task/query", views.task_query, name="api_task_query"),
    path("api/balance", views.balance, name="api_balance"),
    path("api/results/<signed:token>", views.result_image, name="api_result_image"),
    path("v1/images/generations", openai_compat.generations, name="openai_images_generations"),
    path("v1/images/edits", openai_compat.edits, name="openai_images_edits"),
    path("v1/models", openai_compat.models, name="openai_models"),
]
