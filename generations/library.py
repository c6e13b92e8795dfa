"""The team library of reference images: adding (an upload, a result, a reference),
finding, using as references and deleting assets.

Files are content addressed, `library/<sha256>.<ext>`: the same bytes are stored once,
however many assets name them and however many generations use them. A generation's
reference to an asset names the asset's file (`services.ReferenceInput.stored_name`), not a
copy; a library file is removed only when no asset and no reference names it
(`services.file_in_use`), so deleting an asset never breaks a generation that used it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from generations.images import ImageRejected, ProcessedImage, validate_upload
from generations.models import Generation, LibraryAsset, ReferenceImage, ResultImage
from generations.models.library import Visibility
from generations.services import LIBRARY_FILES, ReferenceInput, ReferencesRefused, file_in_use

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from generations.models.library import LibraryAssetQuerySet

MAX_TAGS = 20
TAG_MAX_LENGTH = 30


class AssetRefused(Exception):
    """An asset cannot be added; str() is for the member."""


def normalise_tags(text: str) -> str:
    """Tags as stored: lower-case words (commas or spaces between), each once, in the
    order given, with a space at each end (so `tags__contains=" tag "` finds one tag)."""
    seen: list[str] = []
    for tag in re.split(r"[\s,]+", text.lower()):
        tag = tag.strip("#")[:TAG_MAX_LENGTH]
        if tag and tag not in seen:
            seen.append(tag)
    return f" {' '.join(seen[:MAX_TAGS])} " if seen else ""


def check_image(data: bytes) -> ProcessedImage:
    """The checks and limits of any uploaded reference (the same settings, one source).
    Raises ImageRejected."""
    return validate_upload(
        data,
        max_bytes=settings.BANANA_UPLOAD_MAX_BYTES,
        max_pixels=settings.BANANA_REFERENCE_MAX_PIXELS,
    )


def _stored_name(content: bytes, extension: str) -> str:
    """The file of these bytes, written once: later assets with the same bytes share it."""
    name = f"{LIBRARY_FILES}{hashlib.sha256(content).hexdigest()}.{extension}"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(content))
        if saved != name:  # written meanwhile by another request: keep the first one
            default_storage.delete(saved)
    return name


def add_asset(
    owner: User,
    image: ProcessedImage,
    *,
    name: str,
    tags: str = "",
    visibility: str = Visibility.TEAM,
) -> LibraryAsset:
    """A new asset of an image already checked (`check_image`) or already ours."""
    stored = _stored_name(image.content, image.extension)
    # Another asset of the same bytes may be deleted meanwhile: its deletion looks for
    # users of the file once it commits, before this row is there to be seen. Once this
    # row is committed, the file is written again if that removed it.
    transaction.on_commit(lambda: _stored_name(image.content, image.extension))
    return LibraryAsset.objects.create(
        owner=owner,
        name=name.strip()[:100] or _("Untitled"),
        tags=normalise_tags(tags),
        visibility=visibility if visibility in Visibility.values else Visibility.TEAM,
        file=stored,
        content_hash=stored.split("/", 1)[1].split(".", 1)[0],
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        size=len(image.content),
    )


def upload_asset(owner: User, data: bytes, **fields: str) -> LibraryAsset:
    """An uploaded image as a new asset. Raises ImageRejected."""
    return add_asset(owner, check_image(data), **fields)


def save_uploads(
    owner: User, images: Sequence[ProcessedImage], file_names: Sequence[str]
) -> list[LibraryAsset]:
    """The composer's uploads (already checked as references), kept as team assets named
    after their files."""
    return [
        add_asset(owner, image, name=(name.rsplit(".", 1)[0] if name else ""))
        for image, name in zip(images, [*file_names, *[""] * len(images)], strict=False)
    ]


def _from_stored(file_name: str, owner: User, **fields: str) -> LibraryAsset:
    with default_storage.open(file_name, "rb") as fh:
        data = fh.read()
    try:
        # Our own stored images: re-checked all the same (the limits may have changed).
        image = validate_upload(
            data, max_bytes=max(len(data), 1), max_pixels=settings.BANANA_REFERENCE_MAX_PIXELS
        )
    except ImageRejected:
        raise AssetRefused(_("This image cannot be added to the library.")) from None
    return add_asset(owner, image, **fields)


def _savable(user: User):
    """The generations whose images a member may keep in the library (an asset may be
    shared with the team)."""
    return Generation.objects.reusable_by(user)


def save_result(user: User, generation_id, position: int, **fields: str) -> LibraryAsset:
    """A result image the member may keep (`_savable`), as a new asset of theirs."""
    result = (
        ResultImage.objects.filter(
            generation__in=_savable(user),
            generation_id=generation_id,
            position=position,
            state=ResultImage.State.STORED,
        )
        .exclude(file="")
        .first()
    )
    if result is None:
        raise AssetRefused(_("This image is no longer available."))
    return _from_stored(result.file.name or "", user, **fields)


def save_reference(user: User, generation_id, position: int, **fields: str) -> LibraryAsset:
    """A stored reference image of a generation the member may keep (`_savable`), as a
    new asset of theirs."""
    reference = (
        ReferenceImage.objects.filter(
            generation__in=_savable(user),
            generation_id=generation_id,
            position=position,
        )
        .exclude(file="")
        .first()
    )
    if reference is None:
        raise AssetRefused(_("This reference image is no longer available."))
    return _from_stored(reference.file.name or "", user, **fields)


def search(user: User, text: str = "", *, to_use: bool = False) -> LibraryAssetQuerySet:
    """The assets the member may see (`to_use`: may put into an image or a preset, where
    others would see them), matching every word of `text` in the name or as the start of a
    tag; `#tag` matches that tag exactly."""
    objects = LibraryAsset.objects
    assets = (objects.usable_by(user) if to_use else objects.visible_to(user)).select_related(
        "owner"
    )
    for word in text.lower().split()[:10]:
        if word.startswith("#") and word.strip("#"):
            assets = assets.filter(tags__contains=f" {word.strip('#')} ")
        else:
            assets = assets.filter(Q(name__icontains=word) | Q(tags__contains=f" {word}"))
    return assets


def can_delete(user: User, asset: LibraryAsset) -> bool:
    """Members delete their own assets; admins (not auditors) any asset."""
    return user.is_authenticated and (asset.owner_id == user.pk or user.is_superuser)


def delete_asset(asset: LibraryAsset) -> None:
    """The asset goes; its file too, unless another asset or a generation's reference
    still names it (generations that used it keep their reference)."""
    name = asset.file.name
    with transaction.atomic():
        asset.delete()

        def remove() -> None:
            if name and not file_in_use(name):
                default_storage.delete(name)

        transaction.on_commit(remove)


def find_assets(user: User, wanted: Iterable[str | int]) -> list[LibraryAsset]:
    """Assets named by id or by name (the newest of that name the member may use), in the
    order asked. Raises ReferencesRefused for one the member may not use or that is gone."""
    visible = LibraryAsset.objects.usable_by(user)
    found: list[LibraryAsset] = []
    for item in wanted:
        text = str(item).strip()
        asset = (
            visible.filter(pk=int(text)).first()
            if text.isdigit()
            else visible.filter(name=text).order_by("-created_at", "-pk").first()
        )
        if asset is None:
            raise ReferencesRefused(
                _("The library asset “%(name)s” is not available.") % {"name": text}
            )
        found.append(asset)
    return found


def as_references(assets: Sequence[LibraryAsset]) -> list[ReferenceInput]:
    """Assets as a submit's references: their files are named, not copied."""
    return [
        ReferenceInput(
            stored_name=asset.file.name or "",
            library_asset_id=asset.pk,
            extension=(asset.file.name or "").rsplit(".", 1)[-1],
            content_type=asset.content_type,
            width=asset.width,
            height=asset.height,
        )
        for asset in assets
    ]
