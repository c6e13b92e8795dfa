from django.db import models
from django.utils.translation import gettext_lazy as _


class RateCounter(models.Model):
    """How often one key (e.g. a client network's missed share tokens) was hit in one
    window of time; counted with one atomic upsert, so concurrent hits never undercount."""

    key = models.CharField(max_length=200)
    window_start = models.BigIntegerField(help_text=_("In seconds since the epoch."))
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="unique_rate_counter"),
        ]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self):
        return f"{self.key} @ {self.window_start}: {self.hits}"
