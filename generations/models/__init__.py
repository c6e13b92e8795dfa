from generations.models.apikeys import (
    ApiKey,
    ApiKeyMonth,
    ApiTask,
    CallbackAttempt,
    CallbackDelivery,
)
from generations.models.boards import Collection, CollectionItem
from generations.models.credits import (
    CreditAccount,
    CreditLedgerEntry,
    ModelPrice,
    TeamMonth,
    TeamSettings,
)
from generations.models.galleries import Favourite
from generations.models.generations import (
    Generation,
    GenerationQuerySet,
    ReferenceImage,
    ResultImage,
    UpstreamHealth,
    hash_secret,
    new_secret,
)
from generations.models.library import LibraryAsset, StylePreset
from generations.models.members import (
    Invitation,
    MemberProfile,
    MemberSession,
    ModelAccess,
    ProviderIdentity,
    Role,
)
from generations.models.ratelimit import RateCounter
from generations.models.sharing import ShareLink, new_share_token

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
    "LibraryAsset",
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
    "StylePreset",
    "TeamMonth",
    "TeamSettings",
    "UpstreamHealth",
    "hash_secret",
    "new_secret",
    "new_share_token",
]
