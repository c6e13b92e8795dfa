import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from generations.models.generations import Generation


class CollectionQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(Q(owner=user) | Q(visibility=Collection.Visibility.TEAM))

    def owned_by(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)


class Collection(models.Model):
    Visibility = Generation.Visibility

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(_("name"), max_length=100)
    visibility = models.CharField(
        _("visible to"), max_length=10, choices=Visibility.choices, default=Visibility.TEAM
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = CollectionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="collection_items"
    )
    position = models.PositiveIntegerField(default=0)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "generation"], name="unique_collection_item"
            ),
        ]

    def __str__(self):
        return f"{self.collection_id}: {self.generation_id}"
