"""Style presets: text that wraps the member's prompt, with optional defaults (model,
ratio, size, count, library assets as references). Team presets are made by admins, or by
members too when the team's settings allow it (`TeamSettings.members_make_team_presets`);
personal presets are their owner's alone.

A generation made with a preset records the member's words (`member_prompt`), the preset
(`preset`, and its name then, `preset_name`) and sends the expanded `prompt`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from generations import library
from generations.accounts import members
from generations.models import LibraryAsset, StylePreset, TeamSettings
from generations.models.members import Role
from generations.services import ReferenceInput, ReferencesRefused

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from generations.models.library import StylePresetQuerySet

PLACEHOLDER = "{prompt}"


class PresetRefused(Exception):
    """A preset cannot be used or changed as asked; str() is for the member."""


def expand(template: str, prompt: str) -> str:
    """The prompt sent: `{prompt}` in the template replaced by the member's words, or, for
    a template without it, the template appended after a comma."""
    template = template.strip()
    prompt = prompt.strip()
    if not template:
        return prompt
    if PLACEHOLDER in template:
        return template.replace(PLACEHOLDER, prompt)
    return f"{prompt}, {template}" if prompt else template


def usable(user: User) -> StylePresetQuerySet:
    return StylePreset.objects.usable_by(user).select_related("owner")


def for_composer(user: User) -> StylePresetQuerySet:
    """The presets the composer offers, each with `visible_assets`: the assets `apply` will
    add for this member (the composer counts them among the references). One query more."""
    return usable(user).prefetch_related(
        Prefetch(
            "assets",
            queryset=LibraryAsset.objects.usable_by(user).only("pk").order_by("created_at"),
            to_attr="visible_assets",
        )
    )


def may_make_team_presets(user: User) -> bool:
    """Admins always; members when the team's settings allow; auditors never."""
    if not user.is_authenticated:
        return False
    role = members.role_of(user)
    if role == Role.ADMIN:
        return True
    return role == Role.MEMBER and TeamSettings.current().members_make_team_presets


def can_change(user: User, preset: StylePreset) -> bool:
    if preset.scope == StylePreset.Scope.TEAM:
        return may_make_team_presets(user)
    return user.is_authenticated and preset.owner_id == user.pk


def find(user: User, wanted: str | int) -> StylePreset:
    """A preset by id or by name (the member's own first, then the team's). Raises
    PresetRefused."""
    text = str(wanted).strip()
    presets = usable(user)
    if text.isdigit():
        preset = presets.filter(pk=int(text)).first()
    else:
        named = presets.filter(name=text)
        preset = (
            named.filter(scope=StylePreset.Scope.PERSONAL).first()
            or named.filter(scope=StylePreset.Scope.TEAM).first()
        )
    if preset is None:
        raise PresetRefused(_("The style preset “%(name)s” is not available.") % {"name": text})
    return preset


@dataclass(frozen=True)
class Applied:
    """What a preset makes of a submit: the prompt sent and the preset's references."""

    prompt: str
    references: list[ReferenceInput]


def apply(user: User, preset: StylePreset, prompt: str) -> Applied:
    """The expanded prompt (within the prompt limit) and the preset's assets the member
    may use, as references. Raises PresetRefused."""
    final = expand(preset.template, prompt)
    if len(final) > settings.BANANA_PROMPT_MAX_LENGTH:
        raise PresetRefused(
            _("With this preset the prompt is longer than %(max)d characters.")
            % {"max": settings.BANANA_PROMPT_MAX_LENGTH}
        )
    assets = list(
        LibraryAsset.objects.usable_by(user).filter(presets=preset).order_by("created_at")
    )
    return Applied(prompt=final, references=library.as_references(assets))


def save(
    user: User,
    *,
    preset: StylePreset | None = None,
    name: str,
    template: str,
    scope: str,
    model: str = "",
    aspect_ratio: str = "",
    image_size: str = "",
    count: int | None = None,
    asset_ids: list[int] | None = None,
) -> StylePreset:
    """Make or change a preset. Raises PresetRefused when the member may not."""
    if scope == StylePreset.Scope.TEAM and not may_make_team_presets(user):
        raise PresetRefused(_("Only admins may make team presets."))
    if preset is not None and not can_change(user, preset):
        raise PresetRefused(_("You may not change this preset."))
    if preset is None:
        preset = StylePreset(owner=user)
    preset.name = name.strip()
    preset.template = template.strip()
    preset.scope = scope
    preset.model = model
    preset.aspect_ratio = aspect_ratio
    preset.image_size = image_size
    preset.count = count
    preset.save()
    if asset_ids is not None:
        try:
            assets = library.find_assets(user, asset_ids)
        except ReferencesRefused as exc:
            raise PresetRefused(str(exc)) from None
        preset.assets.set(assets)
    return preset


def delete(user: User, preset: StylePreset) -> None:
    if not can_change(user, preset):
        raise PresetRefused(_("You may not delete this preset."))
    preset.delete()


@dataclass(frozen=True)
class Submit:
    """What a submit sends once its preset and library assets are applied."""

    prompt: str
    member_prompt: str
    preset: StylePreset | None
    # The chosen library assets, then the preset's (each once), as references.
    references: list[ReferenceInput]


def for_submit(
    user: User, prompt: str, *, preset: str | int | None = None, assets: Iterable[str | int] = ()
) -> Submit:
    """The prompt to send and the library references of a submit (the studio's or an
    API's). Raises PresetRefused or services.ReferencesRefused."""
    references = library.as_references(library.find_assets(user, [a for a in assets if a]))
    chosen = find(user, preset) if preset not in (None, "") else None
    if chosen is None:
        return Submit(prompt=prompt, member_prompt="", preset=None, references=references)
    applied = apply(user, chosen, prompt)
    have = {ref.library_asset_id for ref in references}
    references += [ref for ref in applied.references if ref.library_asset_id not in have]
    return Submit(prompt=applied.prompt, member_prompt=prompt, preset=chosen, references=references)
