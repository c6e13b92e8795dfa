"""The team library of reference images and the style presets (issue 20).

An asset's file is content addressed (`library/<sha256>.<ext>`): the same bytes are stored
once however many assets and generations use them. A generation that uses an asset points
its `ReferenceImage` at that same file, and a file is removed only when no asset and no
reference names it any more (`generations/library.py`), so deleting an asset never breaks
a generation that used it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Visibility(models.TextChoices):
    TEAM = "team", _("The whole team")
    PRIVATE = "private", _("Only me")


class LibraryAssetQuerySet(models.QuerySet["LibraryAsset"]):
    def visible_to(self, user) -> LibraryAssetQuerySet:
        """Own assets and the team's; staff (admins and auditors) see every asset."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self.all()
        return self.filter(Q(owner=user) | Q(visibility=Visibility.TEAM))

    def usable_by(self, user) -> LibraryAssetQuerySet:
        """Own assets and the team's, for staff too: what one may put into a generation or a
        preset, which others may then see (staff only look at members' private ones)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(owner=user) | Q(visibility=Visibility.TEAM))


class LibraryAsset(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="library_assets",
        verbose_name=_("added by"),
    )
    name = models.CharField(_("name"), max_length=100)
    # Lower-case words separated by single spaces, with a space at each end, so that one
    # tag is found exactly by `tags__contains=" tag "`.
    tags = models.CharField(_("tags"), max_length=300, blank=True)
    visibility = models.CharField(
        _("visible to"), max_length=10, choices=Visibility.choices, default=Visibility.TEAM
    )
    file = models.FileField(_("file"), max_length=200)
    content_hash = models.CharField(_("content hash"), max_length=64, db_index=True)
    content_type = models.CharField(_("content type"), max_length=50)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    size = models.PositiveIntegerField(_("size (bytes)"))
    created_at = models.DateTimeField(_("added"), auto_now_add=True, db_index=True)
    use_count = models.PositiveIntegerField(_("times used"), default=0)

    objects = LibraryAssetQuerySet.as_manager()

    class Meta:
        verbose_name = _("library asset")
        verbose_name_plural = _("library assets")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.name

    @property
    def tag_list(self) -> list[str]:
        return self.tags.split()


class StylePresetQuerySet(models.QuerySet["StylePreset"]):
    def usable_by(self, user) -> StylePresetQuerySet:
        """The team's presets and the member's own personal ones."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(scope=StylePreset.Scope.TEAM) | Q(owner=user))


class StylePreset(models.Model):
    class Scope(models.TextChoices):
        TEAM = "team", _("Team")
        PERSONAL = "personal", _("Personal")

    name = models.CharField(_("name"), max_length=100)
    template = models.TextField(
        _("prompt template"),
        max_length=2000,
        help_text=_(
            "{prompt} is replaced by the member's words; text without {prompt} is appended to them."
        ),
    )
    scope = models.CharField(
        _("scope"), max_length=10, choices=Scope.choices, default=Scope.PERSONAL
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="style_presets",
        verbose_name=_("made by"),
    )
    model = models.CharField(_("model"), max_length=100, blank=True)
    aspect_ratio = models.CharField(_("aspect ratio"), max_length=10, blank=True)
    image_size = models.CharField(_("image size"), max_length=4, blank=True)
    count = models.PositiveSmallIntegerField(_("number of images"), null=True, blank=True)
    assets = models.ManyToManyField(
        LibraryAsset, blank=True, related_name="presets", verbose_name=_("references")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = StylePresetQuerySet.as_manager()

    class Meta:
        verbose_name = _("style preset")
        verbose_name_plural = _("style presets")
        ordering = ["scope", "name", "pk"]

    def __str__(self):
        return self.name
