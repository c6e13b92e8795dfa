"""The models members may pick (configuration: `BANANA_MODELS`), and what each takes."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class ModelOption:
    id: str
    label: str
    sizes: tuple[str, ...]


def model_options() -> list[ModelOption]:
    return [
        ModelOption(id=m["id"], label=m.get("label", m["id"]), sizes=tuple(m.get("sizes", ())))
        for m in settings.BANANA_MODELS
    ]


def get_model_option(model_id: str) -> ModelOption | None:
    return next((m for m in model_options() if m.id == model_id), None)


def default_model() -> str:
    return model_options()[0].id


def size_for(model_id: str, image_size: str | None) -> str:
    """The image size actually used: the asked one when the model takes it, else none."""
    option = get_model_option(model_id)
    image_size = image_size or ""
    return image_size if option and image_size in option.sizes else ""
