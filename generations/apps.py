from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = _("Generations")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from generations import health, languages
        from generations.accounts import members
        from operations import registry

        registry.register_readiness_check("upstream_key", health.check_upstream_key)
        registry.register_metrics(health.metric_families)

        post_migrate.connect(_ensure_search_index, sender=self)
        post_migrate.connect(members.ensure_role_groups, sender=self)
        # Every user, however they come to exist: credit account, profile, starting grant;
        # a user saved as inactive loses their sessions.
        post_save.connect(
            members.on_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="members"
        )
        user_logged_in.connect(members.record_session, dispatch_uid="members")
        user_logged_out.connect(members.forget_session, dispatch_uid="members")
        user_logged_in.connect(languages.on_login, dispatch_uid="languages")


def _ensure_search_index(sender, using="default", **kwargs):
    from generations.search_index import ensure_sqlite_index

    ensure_sqlite_index(using)
