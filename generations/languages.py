"""The language and time zone a page is shown in (docs/languages.md).

A member's saved choice (their profile) wins; otherwise the browser decides: the language
cookie the switcher sets, else Accept-Language (Django's LocaleMiddleware), and the time
zone studio.js reads from the browser into the `tz` cookie. The member's choice is kept in
their session, so a page costs no extra query for it."""

import functools
import hashlib
import zoneinfo
from pathlib import Path
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import autoreload, translation

from generations.accounts import members

TIME_ZONE_COOKIE = "tz"
_SESSION_KEY = "member_preferences"


def supported_language(code: str | None) -> str | None:
    return code if code in dict(settings.LANGUAGES) else None


def time_zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) >= 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def browser_choices(request: HttpRequest) -> dict:
    """What this browser asks for when the member saved no choice: for their settings."""
    zone = time_zone_named(request.COOKIES.get(TIME_ZONE_COOKIE))
    return {
        "browser_language": translation.get_language_from_request(request),
        "browser_zone": zone.key if zone else None,
    }


def remember_preferences(
    request: HttpRequest, language: str, time_zone: str, user: Any = None
) -> None:
    """What the member saved, for the pages of this session."""
    request.session[_SESSION_KEY] = {
        "user": (user or request.user).pk,
        "language": language,
        "time_zone": time_zone,
    }


def member_preferences(request: HttpRequest, user: Any) -> dict:
    """The signed-in member's saved language and time zone ("" where they chose none)."""
    saved = request.session.get(_SESSION_KEY)
    if not saved or saved.get("user") != user.pk:
        profile = members.profile_for(user)
        remember_preferences(request, profile.language, profile.time_zone, user=user)
        saved = request.session[_SESSION_KEY]
    return saved


def on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """user_logged_in: the member's saved choices come with the session, so no page of it
    asks for them (the signed image URLs may cost no query)."""
    profile = members.profile_for(user)
    remember_preferences(request, profile.language, profile.time_zone, user=user)


def save_language(request: HttpRequest, user: Any, language: str) -> None:
    """The switcher, used by a signed-in member: their choice is saved for every browser."""
    profile = members.profile_for(user)
    if profile.language != language:
        profile.language = language
        profile.save(update_fields=["language"])
    remember_preferences(request, profile.language, profile.time_zone, user=user)


@functools.cache
def catalogue_version() -> str:
    """A digest of the compiled JavaScript catalogues: part of their URL, so a deploy with new
    strings is fetched anew while an unchanged catalogue stays in browsers' caches."""
    digest = hashlib.sha256()
    for path in sorted(Path(settings.LOCALE_PATHS[0]).glob("*/LC_MESSAGES/djangojs.mo")):
        digest.update(path.parent.parent.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


@receiver(autoreload.file_changed)
def _catalogue_compiled(sender: Any, file_path: Path, **kwargs: Any) -> None:
    """`make run`'s autoreloader: a new .mo is a new catalogue URL, without a restart."""
    if file_path.suffix == ".mo":
        catalogue_version.cache_clear()
