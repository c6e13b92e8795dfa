from django.conf import settings
from django.db import models
from django.utils import timezone

from generations.models.generations import Generation


class Favourite(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "generation"], name="unique_favourite"),
        ]

    def __str__(self):
        return f"{self.user_id} ♥ {self.generation_id}"
