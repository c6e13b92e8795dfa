"""The contract of the APIs a personal key opens, declared once: a Pydantic model for every
request and every answer. The same models validate what clients send (`parse`, used by
generations/api/views.py and generations/api/openai_compat.py), shape what we answer, and
make the OpenAPI 3.1 document served at /api/openapi.json (`document`), which
tests/test_api_contract.py checks against the running server with schemathesis.

What depends on configuration (the models on offer, OpenAI's model names we take as
aliases, the prompt's length) is read when a request is validated or the document made, so
both always agree with the settings in force. A refusal is an `InvalidRequest` naming the
offending field (`param`) with a message for the caller; the views give it the provider's
or OpenAI's envelope.

To add a field to a request, add it to its model here: it is then validated, documented and
handed to the view, with its message in MESSAGES.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from django.conf import settings
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic.json_schema import JsonDict, JsonSchemaValue, models_json_schema
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError

from generations import catalogue, upstream
from generations.converters import SignedTokenConverter
from generations.models import ApiTask, ReferenceImage

JSON = "application/json"


class InvalidRequest(Exception):
    """The request is malformed or asks for what we do not offer; nothing was spent.
    str() is for the caller; `param` names the offending field."""

    code = "invalid_value"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ModelNotAvailable(InvalidRequest):
    code = "model_not_found"


class NotFound(InvalidRequest):
    """A style preset or library asset the request names is not one the member may use."""

    code = "not_found"


class ImageNotFound(InvalidRequest):
    """`edit_of`/`image_id` names no finished image the key's member may edit (404)."""

    code = "image_not_found"


# --- Rules shared by the schema and the validation -------------------------------------------

# What str.strip() removes, and what JSON Schema's \s matches (U+FEFF): a prompt needs one
# character outside both. Spelled out so that Python and the document's readers agree.
_BLANK = (
    "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f"
    "\\u3000\\ufeff"
)
PROMPT_PATTERN = f"[^\\x00]*[^\\x00{_BLANK}][^\\x00]*"
SIZE_PATTERN = "|auto|[1-9][0-9]{0,4}x[1-9][0-9]{0,4}"
IMAGE_SOURCE_PATTERN = "(?:[Hh][Tt][Tt][Pp][Ss]?://|[Dd][Aa][Tt][Aa]:)[^\\x00]*"
CALLBACK_PATTERN = "[Hh][Tt][Tt][Pp][Ss]?://[^\\x00]*"
DECIMAL_PATTERN = "[0-9]+\\.[0-9]{6}"
UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
# An image of ours to edit (generations/threads.py): the provider API's `edit_of`, the
# OpenAI-compatible edits' `image_id`.
_EDIT_OF = (
    "The id of an image of ours to edit: a task id of this API, or the id in a studio "
    "page's address (/g/<id>/). It must be finished, and yours or visible to the team. Its "
    f"image is sent first (one of the {upstream.MAX_REFERENCE_IMAGES} reference images) "
    "and the new generation becomes the next version in its edit thread."
)
# What the columns that keep them hold.
URL_MAX_LENGTH: int = min(
    ReferenceImage._meta.get_field("source_url").max_length or 0,
    ApiTask._meta.get_field("callback_url").max_length or 0,
)

# OpenAI's own image models, and the answer each gives when `response_format` is not sent.
OPENAI_IMAGE_MODELS: dict[str, Literal["url", "b64_json"]] = {
    "dall-e-2": "url",
    "dall-e-3": "url",
    "gpt-image-1": "b64_json",
    "gpt-image-1-mini": "b64_json",
    "gpt-image-1.5": "b64_json",
}
OUTPUT_FORMATS = ("png", "jpeg", "webp")


def matches(pattern: str) -> Any:
    """A string matching `pattern` as a whole: the document says `^(?:pattern)$`, which
    JSON Schema (ECMA) reads as Python's fullmatch does (Python's own `$` would also let a
    trailing newline through)."""
    compiled = re.compile(pattern)

    def check(value: str | None) -> str | None:
        if value is not None and compiled.fullmatch(value) is None:
            raise PydanticCustomError("string_pattern_mismatch", "does not match")
        return value

    def extra(schema: JsonDict) -> None:
        schema["pattern"] = f"^(?:{pattern})$"

    return [AfterValidator(check), Documented(extra)]


@dataclass(frozen=True)
class Documented:
    """Adds to a field's schema what a Field cannot say on its own (a pattern checked in
    Python, a bound read from settings); any number of them compose."""

    add: Callable[[JsonDict], None]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        self.add(schema)
        return schema


def storable(value: str) -> str:
    """Text a database column takes: valid UTF-8 (JSON allows lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("not_storable", "not storable") from None
    return value


def _integral(value: Any) -> Any:
    """JSON Schema's integers include 2.0; JSON itself does not tell them apart."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _prompt_length(value: str) -> str:
    if len(value) > settings.BANANA_PROMPT_MAX_LENGTH:
        raise PydanticCustomError("prompt_too_long", "too long")
    return value.strip()


def _prompt_schema(schema: JsonDict) -> None:
    schema["maxLength"] = settings.BANANA_PROMPT_MAX_LENGTH


def model_ids() -> list[str]:
    return [m.id for m in catalogue.model_options()]


def model_aliases() -> dict[str, str]:
    """OpenAI's model names this server takes (BANANA_OPENAI_MODEL_ALIASES), each to one of
    ours ("" for the key's default model). Unset: every OpenAI image model, to the default."""
    configured: dict[str, str] | None = settings.BANANA_OPENAI_MODEL_ALIASES
    if configured is None:
        return dict.fromkeys(OPENAI_IMAGE_MODELS, "")
    return {str(name): str(target or "") for name, target in configured.items()}


def _enum_in_first_branch(values: Callable[[], list[str]]) -> Callable[[JsonDict], None]:
    def extra(schema: JsonDict) -> None:
        branches = schema.get("anyOf")
        target = branches[0] if isinstance(branches, list) else schema
        assert isinstance(target, dict)
        target["enum"] = list(values())

    return extra


_provider_models = _enum_in_first_branch(model_ids)
_openai_models = _enum_in_first_branch(lambda: ["", *model_ids(), *model_aliases()])


Prompt = Annotated[
    str,
    *matches(PROMPT_PATTERN),
    AfterValidator(storable),
    AfterValidator(_prompt_length),
    Documented(_prompt_schema),
    Field(description="What to draw."),
]


class Request(BaseModel):
    """A request body: exactly the JSON types the document names (no "2" for 2), and
    fields we do not know are ignored (clients send more than they need)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- The provider's API ------------------------------------------------------------------------


# A style preset and library assets (issue 20), by id or by name, in both APIs.
PresetField = Annotated[
    int | Annotated[str, Field(min_length=1, max_length=100)] | None,
    Field(
        description=(
            "A style preset by id or name (your own personal preset of that name first, then "
            "the team's): its text wraps the prompt, its library assets come first among the "
            "references, and its defaults fill the options not sent."
        )
    ),
]
LibraryAssetsField = Annotated[
    list[int | Annotated[str, Field(min_length=1, max_length=100)]] | None,
    Field(
        max_length=upstream.MAX_REFERENCE_IMAGES,
        description=(
            "Assets of the team library by id or name (the newest of that name you may use), "
            f"sent as references; with all other references, at most "
            f"{upstream.MAX_REFERENCE_IMAGES}."
        ),
    ),
]


class ProviderSubmitRequest(Request):
    prompt: Prompt
    model: Annotated[
        str,
        Field(description="One of the models on offer.", json_schema_extra=_provider_models),
    ]
    aspect_ratio: Annotated[
        Literal["", "auto", *upstream.ASPECT_RATIOS] | None,  # type: ignore[valid-type]
        Field(description='"" or null: the model\'s default.'),
    ] = None
    image_size: Annotated[
        Literal["", *upstream.IMAGE_SIZES, *(s.upper() for s in upstream.IMAGE_SIZES)]  # type: ignore[valid-type]
        | None,
        Field(description="Ignored for models that take no size."),
    ] = None
    callback_url: (
        Annotated[
            str,
            *matches(CALLBACK_PATTERN),
            Field(max_length=URL_MAX_LENGTH, json_schema_extra={"format": "uri"}),
        ]
        | None
    ) = Field(
        None,
        description=(
            "Called (POST, the callback body, signed per Standard Webhooks) once the task is "
            "final. Its address must be one we may call (public addresses only)."
        ),
    )
    images: (
        Annotated[
            list[Annotated[str, *matches(IMAGE_SOURCE_PATTERN)]],
            Field(max_length=upstream.MAX_REFERENCE_IMAGES),
        ]
        | None
    ) = Field(
        None,
        description=(
            "Reference images: http(s) URLs the image service can reach (public addresses "
            "only) or base64 `data:` URIs, decoded one at a time."
        ),
    )
    preset: PresetField = None
    library_assets: LibraryAssetsField = None
    edit_of: Annotated[str, *matches(UUID_PATTERN)] | None = Field(None, description=_EDIT_OF)


class SubmitData(Answer):
    task_id: str = Field(description="Our task id (a UUID).")


class ProviderSubmitOk(Answer):
    code: Literal[0] = 0
    message: str = "ok"
    data: SubmitData


class ProviderError(Answer):
    code: int = Field(description="1 (401 on the query's 401).")
    message: str
    detail: str | None = Field(None, description="Why, for 400, 413 and 429.")


class ResultImage(Answer):
    image: str = Field(json_schema_extra={"format": "uri"})


class StatusReason(Answer):
    message: str | None


Consumed = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": f"^{DECIMAL_PATTERN}$"},
        description="Credits the member was charged.",
    ),
]


class ProviderCallback(Answer):
    """The provider's callback body (contract section 3)."""

    task_id: str
    status: Literal["success", "failed"]
    result: list[ResultImage] | None = Field(
        description="On success: signed, expiring URLs of our copies."
    )
    status_reason: StatusReason
    consumed: Consumed


class ProviderTask(Answer):
    """The provider's task object (the query's `data`)."""

    task_id: str = Field(description="Our task id (a UUID).")
    status: Literal["pending", "submitted", "in_progress", "success", "failed"]
    result: list[ResultImage] | None = Field(
        description="On success: signed, expiring URLs of our copies."
    )
    status_reason: StatusReason
    consumed: Consumed
    created_at: str = Field(json_schema_extra={"format": "date-time"})


class ProviderQueryOk(Answer):
    code: Literal[0] = 0
    message: str = "ok"
    data: ProviderTask


Credits = Annotated[str, Field(json_schema_extra={"pattern": f"^-?{DECIMAL_PATTERN}$"})]


class KeyBudget(Answer):
    name: str
    monthly_budget: Credits | None = Field(description="The key's own monthly budget, or null.")
    committed_this_month: Credits = Field(description="Held or spent by this key this month.")
    remaining_this_month: Credits | None = Field(
        description="What the key may still commit this month; null: no budget of its own."
    )


class Balance(Answer):
    """The member's credits (the studio's header) and the key's own budget."""

    available: Credits = Field(description="Credits the member may spend now.")
    held: Credits = Field(description="Held for images still being made.")
    spent_this_month: Credits
    monthly_allowance: Credits = Field(description="Credited at the start of each month.")
    key: KeyBudget


class BalanceOk(Answer):
    code: Literal[0] = 0
    message: str = "ok"
    data: Balance


# --- The OpenAI-compatible API ----------------------------------------------------------------


def _response_format_doc(schema: JsonDict) -> None:
    urls = sorted(name for name, fmt in OPENAI_IMAGE_MODELS.items() if fmt == "url")
    schema["description"] = (
        "Default `b64_json`; `url` when the model named is an alias of "
        + ", ".join(urls)
        + " (OpenAI's default for those)."
    )


def _no_stream(value: bool | None) -> bool | None:
    if value:
        raise PydanticCustomError("stream", "not supported")
    return value


class OpenAIImageOptions(Request):
    prompt: Prompt
    model: Annotated[
        str | None,
        Field(
            description=(
                "One of GET /v1/models, or one of OpenAI's image model names (mapped to the "
                "key's default model). Default: the first model the key may use."
            ),
            json_schema_extra=_openai_models,
        ),
    ] = None
    n: (
        Annotated[int, Field(ge=1, le=catalogue.MAX_IMAGES_PER_JOB), BeforeValidator(_integral)]
        | None
    ) = Field(1, description="How many images: each is its own generation, with its own hold.")
    size: Annotated[str, *matches(SIZE_PATTERN)] | None = Field(
        "auto",
        examples=["1024x1024", "1536x1024", "1024x1536", "auto"],
        description=(
            "Mapped to the nearest aspect ratio and, for models that take one, the nearest "
            'image size (1k, 2k, 4k) by pixel count. `auto` or "": the model\'s default.'
        ),
    )
    response_format: Annotated[
        Literal["b64_json", "url"] | None, Field(json_schema_extra=_response_format_doc)
    ] = None
    output_format: Annotated[
        Literal["png", "jpeg", "webp"] | None,
        Field(description="The images' format, converted as asked. Default: png."),
    ] = None
    output_compression: Annotated[int, Field(ge=0, le=100), BeforeValidator(_integral)] | None = (
        Field(None, description="Quality (0-100) of jpeg and webp images.")
    )
    stream: Annotated[
        bool | None,
        AfterValidator(_no_stream),
        Field(json_schema_extra={"enum": [False, None]}, description="Not supported."),
    ] = None
    preset: PresetField = None
    library_assets: LibraryAssetsField = None


class OpenAIImagesRequest(OpenAIImageOptions):
    pass


def _binary_files(schema: JsonDict) -> None:
    schema.clear()
    schema.update(
        {
            "type": "array",
            "minItems": 1,
            "maxItems": upstream.MAX_REFERENCE_IMAGES,
            "items": {"type": "string", "format": "binary"},
            "description": "PNG, JPEG or WebP files; sent as `image[]` or `image`.",
        }
    )


def _form_fields_are_never_null(schema: JsonDict) -> None:
    """A multipart form has no null: an option is sent as text or left out. The document
    says so (no `null` branch or value), and a field sent as "null" is refused like any
    other text its type does not take."""
    properties = cast(dict[str, dict[str, Any]], schema["properties"])
    for name, prop in list(properties.items()):
        if isinstance(prop.get("enum"), list):
            prop["enum"] = [value for value in prop["enum"] if value is not None]
        if prop.get("default", "") is None:
            del prop["default"]
        branches = prop.pop("anyOf", None)
        if branches is None:
            continue
        kept = [branch for branch in branches if branch.get("type") != "null"]
        properties[name] = {**kept[0], **prop} if len(kept) == 1 else {**prop, "anyOf": kept}


class OpenAIImageEditRequest(OpenAIImageOptions):
    """Multipart: every field arrives as text; `from_form` reads it as the document means."""

    model_config = ConfigDict(json_schema_extra=_form_fields_are_never_null)

    image: Annotated[
        list[Any],
        Field(
            min_length=0,
            max_length=upstream.MAX_REFERENCE_IMAGES,
            json_schema_extra=_binary_files,
            description="Required unless `image_id` names an image of ours.",
        ),
    ]
    # Not nullable: in a form, "null" would read as not sent (from_form); "" is none.
    image_id: Annotated[str, *matches(f"|{UUID_PATTERN}")] = Field("", description=_EDIT_OF)


class OpenAIImage(Answer):
    b64_json: str | None = None
    url: str | None = Field(None, json_schema_extra={"format": "uri"})


class OpenAIImagesResponse(Answer):
    created: int
    data: list[OpenAIImage]
    output_format: Literal["png", "jpeg", "webp"] | None = None


class OpenAIErrorBody(Answer):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(Answer):
    error: OpenAIErrorBody


class OpenAIModel(Answer):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class OpenAIModelList(Answer):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


# --- Validating ----------------------------------------------------------------------------------

MAX_ITEMS = upstream.MAX_REFERENCE_IMAGES
_N = f"n must be an integer from 1 to {catalogue.MAX_IMAGES_PER_JOB}"
MESSAGES: dict[str, Callable[[ErrorDetails], str]] = {
    "prompt": lambda e: (
        "prompt holds characters that are not allowed"
        if e["type"] == "not_storable" or "\x00" in str(e.get("input", ""))
        else f"prompt is longer than {settings.BANANA_PROMPT_MAX_LENGTH} characters"
        if e["type"] == "prompt_too_long"
        else "prompt is required"
    ),
    "model": lambda e: "model is required",
    "aspect_ratio": lambda e: "unsupported aspect_ratio",
    "image_size": lambda e: "unsupported image_size",
    "callback_url": lambda e: (
        f"callback_url is longer than {URL_MAX_LENGTH} characters"
        if e["type"] == "string_too_long"
        else "callback_url must be an http(s) URL"
    ),
    "images": lambda e: (
        f"at most {MAX_ITEMS} images are allowed"
        if e["type"] == "too_long"
        else "images must be a list of strings"
    ),
    "images[]": lambda e: f"images[{e['loc'][1]}] must be an http(s) URL or a data: URI",
    "image": lambda e: (
        f"at most {MAX_ITEMS} images are allowed"
        if e["type"] == "too_long"
        else f"image is required: one to {MAX_ITEMS} image files"
    ),
    "edit_of": lambda e: "edit_of must be an image id (a UUID)",
    "image_id": lambda e: "image_id must be an image id (a UUID)",
    "n": lambda e: _N,
    "size": lambda e: "size must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'",
    "response_format": lambda e: "response_format must be 'b64_json' or 'url'",
    "output_format": lambda e: "output_format must be 'png', 'jpeg' or 'webp'",
    "output_compression": lambda e: "output_compression must be an integer from 0 to 100",
    "stream": lambda e: "stream is not supported",
}


def _types(schema: dict[str, Any]) -> set[str]:
    branches = schema.get("anyOf", [schema])
    return {str(branch.get("type")) for branch in branches}


@functools.cache
def _form_types(model: type[BaseModel]) -> dict[str, set[str]]:
    properties = model.model_json_schema()["properties"]
    return {name: _types(schema) for name, schema in properties.items()}


def from_form(model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    """Form fields as the JSON values the document means: an integer's or a boolean's text
    as that value ("2", "false"). Anything else stays text, for the schema to judge (a
    field sent twice is a list, which no option is; an empty one is the empty string)."""
    types = _form_types(model)
    values: dict[str, Any] = {}
    for name, value in fields.items():
        kinds = types.get(name, set())
        if isinstance(value, str) and "integer" in kinds and re.fullmatch(r"-?[0-9]{1,9}", value):
            value = int(value)
        elif isinstance(value, str) and "boolean" in kinds and value in ("true", "false"):
            value = value == "true"
        values[name] = value
    return values


def parse[M: BaseModel](model: type[M], data: object) -> M:
    """`data` as a `model`, or InvalidRequest for its first fault, in the fields' order."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(exc.errors(include_url=False)[0]) from None


def refusal(error: ErrorDetails) -> InvalidRequest:
    loc = error["loc"]
    if not loc:
        return InvalidRequest("the body must be a JSON object")
    field = str(loc[0])
    if len(loc) > 1 and isinstance(loc[1], int) and field == "images":
        return InvalidRequest(MESSAGES["images[]"](error), f"images[{loc[1]}]")
    message = MESSAGES.get(field)
    return InvalidRequest(message(error) if message else f"{field} is invalid", field)


# --- The OpenAPI document ----------------------------------------------------------------------

VALIDATED = (ProviderSubmitRequest, OpenAIImagesRequest, OpenAIImageEditRequest)
ANSWERED = (
    ProviderSubmitOk,
    ProviderQueryOk,
    ProviderCallback,
    ProviderError,
    BalanceOk,
    OpenAIImagesResponse,
    OpenAIError,
    OpenAIModelList,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(model)}}, **extra}


def _without_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_titles(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node


def _components() -> dict[str, Any]:
    pairs: Iterable[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        *((m, "validation") for m in VALIDATED),
        *((m, "serialization") for m in ANSWERED),
    ]
    _, defs = models_json_schema(list(pairs), ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = _without_titles(defs["$defs"])
    return schemas


RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
SHOULD_RETRY = {
    "x-should-retry": {
        "description": "Always `false`: a resent call would be a new, paid generation.",
        "schema": {"type": "string", "enum": ["false"]},
    }
}


def _too_large(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "description": (
            "The body is larger than allowed. Without a valid key the anonymous limit applies "
            "and the answer is plain text."
        ),
        "content": {JSON: {"schema": _ref(model)}, "text/plain": {"schema": {"type": "string"}}},
    }


def _signature_header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _callback(retry_schedule: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": "The task is final (its images are kept): the provider's callback body",
            "description": (
                "Signed per Standard Webhooks with the key's signing secret (whsec_…, on the "
                f"API keys page). Anything but 2xx is retried after {retry_schedule}."
            ),
            "parameters": [
                _signature_header("webhook-id", "The message id, the same on every attempt."),
                _signature_header("webhook-timestamp", "Unix seconds of this attempt."),
                _signature_header(
                    "webhook-signature",
                    'v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">',
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref(ProviderCallback)}},
            },
            "responses": {"2XX": {"description": "Received; any other answer is retried."}},
        }
    }


def _openai_responses() -> dict[str, Any]:
    return {
        "200": _json(OpenAIImagesResponse, "The images."),
        "400": _json(OpenAIError, "Invalid parameters, or a model not on offer for this key."),
        "401": _json(
            OpenAIError, "The key is missing, unknown, revoked, or its member deactivated."
        ),
        "402": _json(OpenAIError, "Not enough credits, the key's budget or the team's cap."),
        "404": _json(
            OpenAIError,
            "`image_id` names no finished image of ours you may edit, or a style preset or "
            "library asset named is not yours to use.",
        ),
        "413": _too_large(OpenAIError),
        "429": _json(
            OpenAIError,
            "The member's limits (in flight, per minute), or too many waiting calls.",
            headers=RETRY_AFTER,
        ),
        "502": _json(
            OpenAIError, "Every image failed; the reason is in the message.", headers=SHOULD_RETRY
        ),
        "504": _json(
            OpenAIError,
            "Not ready within the server's wait; the generations go on in the member's history.",
            headers=SHOULD_RETRY,
        ),
    }


def _provider_unauthorized(code: int) -> dict[str, Any]:
    return _json(ProviderError, f"Key refused: code {code}.")


def document(base_url: str, *, retry_schedule: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of both APIs, made from the models above; `retry_schedule`
    says when an unanswered callback is tried again."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Banana Studio API",
            "version": "1.1.0",
            "description": (
                "Generate images with your own credits using a personal key from the "
                "API keys page. Two APIs: the image service's own task API (a drop-in: "
                "change only the base URL and the key) and an OpenAI-compatible images API "
                "(base URL …/v1). Everything a key does is its member's: the same prices, "
                "holds, limits and history as the studio."
            ),
        },
        "servers": [{"url": base_url or "/"}],
        "security": [{"personalKey": []}],
        "components": {
            "securitySchemes": {
                "personalKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API key (bsk_…).",
                }
            },
            "schemas": _components(),
        },
        "paths": {
            "/api/image/gen": {
                "post": {
                    "operationId": "submitTask",
                    "summary": "Submit a generation (the provider's API)",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": _ref(ProviderSubmitRequest)}},
                    },
                    "callbacks": {
                        "taskFinished": {"{$request.body#/callback_url}": _callback(retry_schedule)}
                    },
                    "responses": {
                        "200": _json(ProviderSubmitOk, "Accepted: keep the task_id."),
                        "400": _json(
                            ProviderError,
                            "Bad parameters, malformed JSON, or credits refused (see `detail`).",
                        ),
                        "401": _provider_unauthorized(1),
                        "404": _json(
                            ProviderError,
                            "`edit_of` names no finished image of ours you may edit, or a "
                            "style preset or library asset named is not yours to use.",
                        ),
                        "413": _too_large(ProviderError),
                        "429": _json(
                            ProviderError,
                            "The member's limits (in flight, per minute).",
                            headers=RETRY_AFTER,
                        ),
                    },
                }
            },
            "/api/task/query": {
                "get": {
                    "operationId": "queryTask",
                    "summary": "A task's state (the provider's API); never waits on the upstream",
                    "parameters": [
                        {
                            "name": "task_id",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1},
                        }
                    ],
                    "responses": {
                        "200": _json(ProviderQueryOk, "The task, as we know it now."),
                        "400": _json(ProviderError, "task_id is missing."),
                        "401": _provider_unauthorized(401),
                        "404": _json(
                            ProviderError,
                            "No such task of this member: code 1, message 'task not found'.",
                        ),
                    },
                }
            },
            "/api/balance": {
                "get": {
                    "operationId": "balance",
                    "summary": "The key's member's credits, and what the key may still spend",
                    "responses": {
                        "200": _json(BalanceOk, "The balance."),
                        "401": _provider_unauthorized(401),
                    },
                }
            },
            "/v1/images/generations": {
                "post": {
                    "operationId": "createImage",
                    "summary": "Create images (OpenAI-compatible); waits until they are ready",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": _ref(OpenAIImagesRequest)}},
                    },
                    "responses": _openai_responses(),
                }
            },
            "/v1/images/edits": {
                "post": {
                    "operationId": "createImageEdit",
                    "summary": "Images from reference images (OpenAI-compatible); waits",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": _ref(OpenAIImageEditRequest)}
                        },
                    },
                    "responses": _openai_responses(),
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The models this key may use (OpenAI-compatible)",
                    "responses": {
                        "200": _json(OpenAIModelList, "The models."),
                        "401": _json(OpenAIError, "The key is refused."),
                    },
                }
            },
            "/api/results/{token}": {
                "get": {
                    "operationId": "resultImage",
                    "summary": "A result image, by the signed URL an answer or callback gave",
                    "security": [],
                    "parameters": [
                        {
                            "name": "token",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "type": "string",
                                "pattern": f"^{SignedTokenConverter.regex}$",
                            },
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The image.",
                            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                        },
                        "404": {
                            "description": "Unknown, expired or deleted.",
                            "content": {"text/html": {}},
                        },
                    },
                }
            },
        },
    }
