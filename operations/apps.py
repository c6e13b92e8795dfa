import logging

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = _("Operations")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        if settings.LOG_FORMAT == "json":
            # Python warnings go through logging too, so stderr holds nothing but JSON.
            logging.captureWarnings(True)
