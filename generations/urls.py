from django.urls import path

from generations import converters  # noqa: F401  (registers <token:> and <signed:>)
from generations.views import (
    boards,
    bulk,
    credits,
    gallery,
    languages,
    library,
    media,
    public,
    shares,
    studio,
    threads,
    webhooks,
)

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
    # Edit threads
    path("g/<uuid:generation_id>/edit/", threads.edit, name="generation_edit"),
    path("g/<uuid:generation_id>/compare/", threads.compare, name="generation_compare"),
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
    path("collections/", boards.collections, name="collections"),
    path("collections/add/", boards.collection_add, name="collection_add"),
    path(
        "collections/<uuid:collection_id>/",
        boards.collection_detail,
        name="collection_detail",
    ),
    path(
        "collections/<uuid:collection_id>/download.zip",
        media.collection_download,
        name="collection_download",
    ),
    path(
        "collections/<uuid:collection_id>/rename/",
        boards.collection_rename,
        name="collection_rename",
    ),
    path(
        "collections/<uuid:collection_id>/delete/",
        boards.collection_delete,
        name="collection_delete",
    ),
    path(
        "collections/<uuid:collection_id>/items/<uuid:generation_id>/remove/",
        boards.collection_remove,
        name="collection_remove",
    ),
    path(
        "collections/<uuid:collection_id>/items/<uuid:generation_id>/move/",
        boards.collection_move,
        name="collection_move",
    ),
    # The team library and style presets
    path("library/", library.library_page, name="library"),
    path("library/save/", library.library_save, name="library_save"),
    path("library/pick/", library.library_picker, name="library_picker"),
    path("library/<int:asset_id>/delete/", library.library_delete, name="library_delete"),
    path("presets/", library.presets_page, name="presets"),
    path("presets/preview/", library.preset_preview, name="preset_preview"),
    path("presets/<int:preset_id>/", library.preset_edit, name="preset_edit"),
    path("presets/<int:preset_id>/delete/", library.preset_delete, name="preset_delete"),
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
    path(
        "s/<token:token>/images/<uuid:generation_id>/<int:position>/display/",
        public.share_image,
        {"variant": "display"},
        name="share_display",
    ),
    # The language switcher, and studio.js's strings in each language
    path("language/", languages.set_language, name="set_language"),
    path(
        "jsi18n/<str:language>/<str:version>.js",
        languages.javascript_catalog,
        name="javascript_catalog",
    ),
    # Credits
    path("credits/", credits.ledger, name="credit_ledger"),
    path("credits/price", credits.price, name="credit_price"),
    # For machines
    path(
        "hooks/upstream/<uuid:generation_id>/<token:secret>/",
        webhooks.upstream_webhook,
        name="upstream_webhook",
    ),
]
