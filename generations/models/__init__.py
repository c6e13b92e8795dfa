from .apikeys import ApiKey, ApiKeyMonth, ApiTask, CallbackAttempt, CallbackDelivery
from .collections import Collection, CollectionItem
from .credits import CreditAccount, CreditLedgerEntry, ModelPrice, TeamMonth, TeamSettings
from .galleries import Favourite
from .generations import (
    Generation,
    GenerationQuerySet,
    ReferenceImage,
    ResultImage,
    UpstreamHealth,
    hash_secret,
    new_secret,
)
from .members import (
    Invitation,
    MemberProfile,
    MemberSession,
    ModelAccess,
    ProviderIdentity,
    Role,
)
from .ratelimit import RateCounter
from .sharing import ShareLink, new_share_token

__all__ = [
    "ApiKey",
    "ApiKeyMonth",
    "ApiTask",
    "CallbackAttempt",
    "CallbackDelivery",
    "Collection",
    "CollectionItem",
    "CreditAccount",
    "CreditLedgerEntry",
    "Favourite",
    "Generation",
    "GenerationQuerySet",
    "Invitation",
    "MemberProfile",
    "MemberSession",
    "ModelAccess",
    "ModelPrice",
    "ProviderIdentity",
    "RateCounter",
    "ReferenceImage",
    "ResultImage",
    "Role",
    "ShareLink",
    "TeamMonth",
    "TeamSettings",
    "UpstreamHealth",
    "hash_secret",
    "new_secret",
    "new_share_token",
]
