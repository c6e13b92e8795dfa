from django.urls import path, register_converter

from .converters import SignedTokenConverter, UrlSafeTokenConverter
from .views import (
    api,
    apikeys,
    bulk,
    collections,
    credits,
    gallery,
    languages,
    media,
    members,
    openai_api,
    ops,
    public,
    shares,
    studio,
    webhooks,
)

register_converter(UrlSafeTokenConverter, "token")
register_converter(SignedTokenConverter, "signed")

urlpatterns = [
    # The studio
    path("", studio.home, name="home"),
    path("generate/", studio.generate, name="generate"),
    path("g/status/", studio.statuses, name="generation_statuses"),
    path("g/<uuid:generation_id>/retry/", studio.retry, name="generation_retry"),
    path("g/<uuid:generation_id>/remix/", studio.remix, name="generation_remix"),
    path("g/<uuid:generation_id>/vary/", studio.vary, name="generation_vary"),
    path("g/<uuid:generation_id>/cancel/", studio.cancel, name="generation_cancel"),
    path("references/pick/", studio.picker, name="reference_picker"),
    path(
        "g/<uuid:generation_id>/images/<int:position>/use/",
        studio.use_as_reference,
        name="generation_use_as_reference",
    ),
    # Galleries and one generation's page
    path("history/", gallery.history, name="history"),
    path("gallery/", gallery.gallery, name="gallery"),
    path("g/<uuid:generation_id>/", gallery.detail, name="generation_detail"),
    path("g/<uuid:generation_id>/menu/", gallery.menu, name="generation_menu"),
    path("g/<uuid:generation_id>/favourite/", gallery.favourite, name="generation_favourite"),
    # Several at once
    path("selection/", bulk.bulk, name="bulk"),
    path("selection/download.zip", bulk.download_zip, name="bulk_download"),
    path("g/<uuid:generation_id>/visibility/", gallery.visibility, name="generation_visibility"),
    path("g/<uuid:generation_id>/delete/", gallery.delete, name="generation_delete"),
    # Image files
    path("g/<uuid:generation_id>/images/<int:position>/", media.result_image, name="result_image"),
    path(
        "g/<uuid:generation_id>/images/<int:position>/thumbnail/",
        media.result_image,
        {"variant": "thumbnail"},
        name="result_thumbnail",
    ),
    path(
        "g/<uuid:generation_id>/images/<int:position>/display/",
        media.result_image,
        {"variant": "display"},
        name="result_display",
    ),
    # Signed by the page that shows them: no database query, cached for good.
    path("i/<token:signature>/<int:expires>/<path:name>", media.signed_media, name="signed_media"),
    path(
        "g/<uuid:generation_id>/references/<int:position>/",
        media.reference_image,
        name="reference_image",
    ),
    path("r/<signed:token>/", media.reference_public, name="reference_public"),
    # Collections
    path("collections/", collections.collections, name="collections"),
    path("collections/add/", collections.collection_add, name="collection_add"),
    path(
        "collections/<uuid:collection_id>/",
        collections.collection_detail,
        name="collection_detail",
    ),
    path(
        "collections/<uuid:collection_id>/download.zip",
        media.collection_download,
        name="collection_download",
    ),
    path(
        "collections/<uuid:collection_id>/rename/",
        collections.collection_rename,
        name="collection_rename",
    ),
    path(
        "collections/<uuid:collection_id>/delete/",
        collections.collection_delete,
        name="collection_delete",
    ),
    path(
        "collections/<uuid:collection_id>/items/<uuid:generation_id>/remove/",
        collections.collection_remove,
        name="collection_remove",
    ),
    path(
        "collections/<uuid:collection_id>/items/<uuid:generation_id>/move/",
        collections.collection_move,
        name="collection_move",
    ),
    # Share links: the member's side, then the public one
    path("links/", shares.share_links, name="share_links"),
    path("links/new/", shares.share_create, name="share_create"),
    path("links/<uuid:link_id>/revoke/", shares.share_revoke, name="share_revoke"),
    path("s/<token:token>/", public.share_page, name="share_page"),
    path(
        "s/<token:token>/images/<uuid:generation_id>/<int:position>/",
        public.share_image,
        name="share_image",
    ),
    path(
        "s/<token:token>/images/<uuid:generation_id>/<int:position>/thumbnail/",
        public.share_image,
        {"variant": "thumbnail"},
        name="share_thumbnail",
    ),
    # The language switcher, and studio.js's strings in each language
    path("language/", languages.set_language, name="set_language"),
    path(
        "jsi18n/<str:language>/<str:version>.js",
        languages.javascript_catalog,
        name="javascript_catalog",
    ),
    # Members: joining by invitation (open to visitors), one's own settings and sessions
    path("join/<token:token>/", members.invitation, name="invitation"),
    path("account/", members.account_settings, name="account_settings"),
    path(
        "account/sessions/sign-out/",
        members.sign_out_everywhere,
        name="account_sign_out_everywhere",
    ),
    path(
        "account/sessions/<int:session_id>/sign-out/",
        members.sign_out_session,
        name="account_sign_out_session",
    ),
    # Credits
    path("credits/", credits.ledger, name="credit_ledger"),
    path("credits/price", credits.price, name="credit_price"),
    # Personal API keys, and the APIs they open (bearer key, no session)
    path("keys/", apikeys.api_keys, name="api_keys"),
    path("keys/<uuid:key_id>/revoke/", apikeys.api_key_revoke, name="api_key_revoke"),
    path("api/docs/", api.docs, name="api_docs"),
    path("api/openapi.json", api.openapi_document, name="api_openapi"),
    path("api/image/gen", api.image_gen, name="api_image_gen"),
    path("api/task/query", api.task_query, name="api_task_query"),
    path("api/results/<signed:token>", api.result_image, name="api_result_image"),
    path("v1/images/generations", openai_api.generations, name="openai_images_generations"),
    path("v1/images/edits", openai_api.edits, name="openai_images_edits"),
    path("v1/models", openai_api.models, name="openai_models"),
    # For machines
    path(
        "hooks/upstream/<uuid:generation_id>/<token:secret>/",
        webhooks.upstream_webhook,
        name="upstream_webhook",
    ),
    # For operators' machines (views/ops.py; README "Operations")
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
]
