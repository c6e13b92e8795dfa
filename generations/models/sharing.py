import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from generations.models.boards import Collection
from generations.models.generations import Generation


def new_share_token():
    """256 bits from a CSPRNG, URL-safe: far beyond guessing."""
    return secrets.token_urlsafe(32)


class ShareLinkQuerySet(models.QuerySet):
    def live(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ShareLink(models.Model):
    """A public, revocable link to one generation or one collection."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    token = models.CharField(max_length=64, unique=True, default=new_share_token, editable=False)
    show_prompts = models.BooleanField(_("show prompts"), default=False)
    show_author = models.BooleanField(_("show who made it"), default=False)
    # A link to a generation of an edit thread may publish the versions that led to it
    # (the sharer's own only: generations/threads.py).
    whole_thread = models.BooleanField(_("share the versions that led to it"), default=False)
    allow_download = models.BooleanField(_("allow downloads"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    view_count = models.PositiveIntegerField(_("views"), default=0)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(generation__isnull=False, collection__isnull=True)
                | Q(generation__isnull=True, collection__isnull=False),
                name="share_link_one_target",
            ),
        ]

    def __str__(self):
        return f"share {self.pk}"

    @property
    def is_live(self):
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
