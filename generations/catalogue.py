"""The models members may pick (configuration: `BANANA_MODELS`), and what each takes."""

from dataclasses import dataclass

from django.conf import settings

from . import upstream


@dataclass(frozen=True)
class ModelOption:
    id: str
    label: str
    sizes: tuple[str, ...]
    # Every model takes an aspect ratio today; a model entry may name fewer ("aspect_ratios").
    aspect_ratios: tuple[str, ...] = upstream.ASPECT_RATIOS


def model_options() -> list[ModelOption]:
    return [
        ModelOption(
            id=m["id"],
            label=m.get("label", m["id"]),
            sizes=tuple(m.get("sizes", ())),
            aspect_ratios=tuple(m.get("aspect_ratios", upstream.ASPECT_RATIOS)),
        )
        for m in settings.BANANA_MODELS
    ]


def get_model_option(model_id: str | None) -> ModelOption | None:
    return next((m for m in model_options() if m.id == model_id), None)


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
