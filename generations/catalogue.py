"""The models members may pick (configuration: `BANANA_MODELS`), and what each takes."""

import functools
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from generations import upstream

# How many images one submit may ask for (the studio's count, the APIs' `n`): each is its own
# generation, with its own upstream task and hold.
MAX_IMAGES_PER_JOB = 4
IMAGE_COUNTS = range(1, MAX_IMAGES_PER_JOB + 1)


@dataclass(frozen=True)
class ModelOption:
    id: str
    label: str
    sizes: tuple[str, ...]
    # Every model takes an aspect ratio today; a model entry may name fewer ("aspect_ratios").
    aspect_ratios: tuple[str, ...] = upstream.ASPECT_RATIOS
    # What the model is good for, in a few words (the composer shows it under the picker).
    hint: str = ""


# The hints of the models on offer by default, in the page's language; a `BANANA_MODELS`
# entry may give its own ("hint", shown as written).
HINTS = {
    "google/gempix2": _("Detailed images, up to 4K"),
    "google/gemini-2.5-flash-image": _("Quick drafts and edits"),
    "google/nano-banana": _("Quick, low-cost images"),
    "google/nano-banana-pro": _("Best quality and legible text, up to 4K"),
    "google/nano-banana-2": _("Fast, good quality, up to 4K"),
    "google/gemini-3.1-flash-image-preview": _("Newest preview model, quick"),
}


def model_options() -> list[ModelOption]:
    return list(_options_by_id().values())


# Read from settings once per process (every card asks for its model's label), and again
# whenever a test changes them.
@functools.cache
def _options_by_id() -> dict[str, ModelOption]:
    options: dict[str, ModelOption] = {}
    for m in settings.BANANA_MODELS:
        options.setdefault(
            m["id"],
            ModelOption(
                id=m["id"],
                label=m.get("label", m["id"]),
                sizes=tuple(m.get("sizes", ())),
                aspect_ratios=tuple(m.get("aspect_ratios", upstream.ASPECT_RATIOS)),
                hint=m.get("hint", ""),
            ),
        )
    return options


@receiver(setting_changed)
def _models_changed(setting, **kwargs):
    if setting == "BANANA_MODELS":
        _options_by_id.cache_clear()


def get_model_option(model_id: str | None) -> ModelOption | None:
    return _options_by_id().get(model_id or "")


def default_model() -> str:
    return model_options()[0].id


def label_of(model_id: str) -> str:
    """The name members know a model by (its id when it is no longer on offer)."""
    option = get_model_option(model_id)
    return option.label if option else model_id


def size_for(model_id: str, image_size: str | None) -> str:
    """The image size actually used: the asked one when the model takes it, else none."""
    option = get_model_option(model_id)
    image_size = image_size or ""
    return image_size if option and image_size in option.sizes else ""


def hint_of(option: ModelOption) -> str:
    """What a model is good for: its configured hint, else ours (translated), else none."""
    return option.hint or str(HINTS.get(option.id, ""))
