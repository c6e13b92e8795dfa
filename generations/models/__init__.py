from .core import (
    Generation,
    GenerationQuerySet,
    ReferenceImage,
    ResultImage,
    UpstreamHealth,
    hash_secret,
    new_secret,
)

__all__ = [
    "Generation",
    "GenerationQuerySet",
    "ReferenceImage",
    "ResultImage",
    "UpstreamHealth",
    "hash_secret",
    "new_secret",
]
