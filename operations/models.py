from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """One row per running task worker, touched every BANANA_WORKER_HEARTBEAT_EVERY
    seconds; a worker not seen for BANANA_WORKER_STALE_AFTER seconds is taken for dead."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self):
        return f"worker {self.worker_id} on {self.hostname} (pid {self.pid})"
