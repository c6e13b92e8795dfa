from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def shared_cache_check(app_configs, **kwargs):
    """Share-token guessing is counted in the cache: per process, that limit multiplies."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        return [
            Warning(
                "The default cache is local to each process, so the share-link guessing "
                "limit is counted per process.",
                hint="Set CACHE_URL to a shared cache, e.g. dbcache://banana_cache "
                "(then run manage.py createcachetable) or a Redis URL.",
                id="generations.W001",
            )
        ]
    return []
