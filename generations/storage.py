"""Where image bytes live: names that say which bytes they hold."""

from __future__ import annotations

import hashlib


def content_hash(content: bytes) -> str:
    """A short hash of a file's bytes, for its name: 64 bits, ample within one generation."""
    return hashlib.sha256(content).hexdigest()[:16]
