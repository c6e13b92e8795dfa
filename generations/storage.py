"""Where image bytes come from: signed page URLs, presigned bucket URLs, content names.

Pages carry *signed* URLs for the images they show: the storage name of the file and an
expiry, signed with the secret key (`django.core.signing`). The view that answers them
checks the signature and nothing else, so it needs no database query: the permission was
checked when the page was rendered, for the person it was rendered for, and the URL stops
working within two BANANA_MEDIA_URL_TTL windows. A URL names one file, and a file name is
never reused for other bytes (result names carry a hash of their content; the storage
never overwrites), so its answer may be cached for good: `private, immutable`.

With object storage the bytes do not pass through a web worker: the browser is sent (302)
to a presigned URL of the bucket, valid for S3_PRESIGNED_URL_TTL seconds.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse

MEDIA_SIGNING_SALT = "generations.media"
# Content addressed: the bytes behind a name never change.
IMMUTABLE = "private, max-age=31536000, immutable"

_CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


def content_hash(content: bytes) -> str:
    """A short hash of a file's bytes, for its name: 64 bits, ample within one generation."""
    return hashlib.sha256(content).hexdigest()[:16]


def content_type_for(name: str) -> str:
    return _CONTENT_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def etag_for(name: str) -> str:
    """A strong ETag: the name says which bytes, and names are never reused."""
    return '"' + hashlib.sha256(name.encode()).hexdigest()[:32] + '"'


def _expiry(now: float | None = None) -> int:
    """The end of the window after the current one: between one and two TTLs from now,
    the same for every page rendered within one window (so browsers reuse the URL)."""
    ttl = settings.BANANA_MEDIA_URL_TTL
    now = time.time() if now is None else now
    return (int(now) // ttl + 2) * ttl


def _signer() -> signing.Signer:
    return signing.Signer(salt=MEDIA_SIGNING_SALT)


def signed_url(name: str, *, now: float | None = None) -> str:
    """A URL for the stored file `name` that works, without a login, until it expires.
    Give it only to someone who may see the file."""
    expires = _expiry(now)
    signature = _signer().sign(f"{expires}/{name}").rsplit(":", 1)[1]
    return reverse(
        "signed_media", kwargs={"signature": signature, "expires": expires, "name": name}
    )


def verify(signature: str, expires: int, name: str, *, now: float | None = None) -> bool:
    """Whether a signed URL's parts are ours and it has not expired."""
    now = time.time() if now is None else now
    if expires < now:
        return False
    try:
        _signer().unsign(f"{expires}/{name}:{signature}")
    except signing.BadSignature:
        return False
    return True


def redirects_to_bucket() -> bool:
    return bool(settings.MEDIA_PRESIGNED_DOWNLOADS)


def presigned_url(
    name: str,
    *,
    content_type: str,
    cache_control: str,
    filename: str = "",
    attachment: bool = False,
    ttl: int,
) -> str:
    """A presigned GET URL of the bucket for `name`, valid for `ttl` seconds, whose answer
    carries our headers."""
    parameters: dict[str, Any] = {
        "ResponseContentType": content_type,
        "ResponseCacheControl": cache_control,
    }
    if attachment or filename:
        kind = "attachment" if attachment else "inline"
        parameters["ResponseContentDisposition"] = (
            f'{kind}; filename="{filename}"' if filename else kind
        )
    url: str = default_storage.url(  # type: ignore[call-arg]
        name, parameters=parameters, expire=ttl
    )
    return url
