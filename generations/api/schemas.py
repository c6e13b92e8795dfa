"""The OpenAPI 3.1 document of the APIs a personal key opens (served at /api/openapi.json,
checked against the running server by schemathesis in tests/test_api_contract.py).

Written by hand, next to the views it describes: generations/api/views.py (the provider's
drop-in API) and generations/api/openai_compat.py (the OpenAI-compatible images API).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from generations import catalogue, upstream

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string"},
    }
}
SHOULD_RETRY = {
    "x-should-retry": {
        "description": "Always `false`: a resent call would be a new, paid generation.",
        "schema": {"type": "string", "enum": ["false"]},
    }
}


def _signature_header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


_CALLBACK = {
    "post": {
        "summary": "The task is final (its images are kept): the provider's callback body",
        "description": (
            "Signed per Standard Webhooks with the key's signing secret (whsec_…, on the API "
            "keys page). Anything but 2xx is retried after 5 s, 30 s, 2 min, 10 min, 30 min, "
            "1 h, 2 h, 4 h, 8 h and 8 h."
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
            "content": {JSON: {"schema": _ref("ProviderCallback")}},
        },
        "responses": {"2XX": {"description": "Received; any other answer is retried."}},
    }
}


def _too_large(schema: str) -> dict[str, Any]:
    return {
        "description": (
            "The body is larger than allowed. Without a valid key the anonymous limit applies "
            "and the answer is plain text."
        ),
        "content": {JSON: {"schema": _ref(schema)}, "text/plain": {"schema": {"type": "string"}}},
    }


def _schemas() -> dict[str, Any]:
    model_ids = [m.id for m in catalogue.model_options()]
    prompt = {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.BANANA_PROMPT_MAX_LENGTH,
        "pattern": r"\S",
        "description": "What to draw.",
    }
    task_id = {"type": "string", "description": "Our task id (a UUID)."}
    openai_options = {
        "prompt": prompt,
        "model": {
            "type": "string",
            "enum": model_ids,
            "description": "One of GET /v1/models. Default: the first model the key may use.",
        },
        "n": {
            "type": "integer",
            "minimum": 1,
            "maximum": 4,
            "default": 1,
            "description": "How many images: each is its own generation, with its own hold.",
        },
        "size": {
            "type": "string",
            "pattern": r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$",
            "default": "auto",
            "examples": ["1024x1024", "1536x1024", "1024x1536", "auto"],
            "description": (
                "Mapped to the nearest aspect ratio and, for models that take one, the "
                "nearest image size (1k, 2k, 4k) by pixel count. `auto`: the model's default."
            ),
        },
        "response_format": {"type": "string", "enum": ["b64_json", "url"], "default": "b64_json"},
    }
    return {
        "ProviderSubmitRequest": {
            "type": "object",
            "required": ["model", "prompt"],
            "properties": {
                "model": {"type": "string", "enum": model_ids},
                "prompt": prompt,
                "images": {
                    "type": "array",
                    "maxItems": upstream.MAX_REFERENCE_IMAGES,
                    "items": {"type": "string"},
                    "description": (
                        "Reference images: http(s) URLs the image service can reach (public "
                        "addresses only) or base64 `data:` URIs."
                    ),
                },
                "callback_url": {
                    "type": "string",
                    "format": "uri",
                    "description": (
                        "Called (POST, the callback body, signed per Standard Webhooks) once "
                        "the task is final."
                    ),
                },
                "aspect_ratio": {
                    "type": "string",
                    "enum": sorted(upstream.ACCEPTED_ASPECT_RATIOS),
                },
                "image_size": {
                    "type": "string",
                    "enum": list(upstream.IMAGE_SIZES),
                    "description": "Ignored for models that take no size.",
                },
            },
        },
        "ProviderSubmitOk": {
            "type": "object",
            "required": ["code", "message", "data"],
            "properties": {
                "code": {"const": 0},
                "message": {"type": "string"},
                "data": {
                    "type": "object",
                    "required": ["task_id"],
                    "properties": {"task_id": task_id},
                },
            },
        },
        "ProviderError": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "integer", "description": "1 (401 on the query's 401)."},
                "message": {"type": "string"},
                "detail": {"type": "string", "description": "Why, for 400, 413 and 429."},
            },
        },
        "ProviderTask": {
            "type": "object",
            "required": ["task_id", "status", "result", "status_reason", "consumed"],
            "properties": {
                "task_id": task_id,
                "status": {
                    "type": "string",
                    "enum": [
                        upstream.PENDING,
                        upstream.SUBMITTED,
                        upstream.IN_PROGRESS,
                        upstream.SUCCESS,
                        upstream.FAILED,
                    ],
                },
                "result": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {"image": {"type": "string", "format": "uri"}},
                    },
                    "description": "On success: signed, expiring URLs of our copies.",
                },
                "status_reason": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": ["string", "null"]}},
                },
                "consumed": {
                    "type": "string",
                    "pattern": r"^[0-9]+\.[0-9]{6}$",
                    "description": "Credits the member was charged.",
                },
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "ProviderCallback": {
            "type": "object",
            "required": ["result", "status", "task_id", "consumed", "status_reason"],
            "properties": {
                "result": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {"image": {"type": "string", "format": "uri"}},
                    },
                },
                "status": {"type": "string", "enum": [upstream.SUCCESS, upstream.FAILED]},
                "task_id": task_id,
                "consumed": {"type": "string", "pattern": r"^[0-9]+\.[0-9]{6}$"},
                "status_reason": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": ["string", "null"]}},
                },
            },
        },
        "ProviderQueryOk": {
            "type": "object",
            "required": ["code", "message", "data"],
            "properties": {
                "code": {"const": 0},
                "message": {"type": "string"},
                "data": _ref("ProviderTask"),
            },
        },
        "OpenAIImagesRequest": {
            "type": "object",
            "required": ["prompt"],
            "properties": openai_options,
        },
        "OpenAIImageEditRequest": {
            "type": "object",
            "required": ["image", "prompt"],
            "properties": {
                "image": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 4,
                    "items": {"type": "string", "format": "binary"},
                    "description": "PNG, JPEG or WebP files; sent as `image[]` or `image`.",
                },
                **openai_options,
            },
        },
        "OpenAIImagesResponse": {
            "type": "object",
            "required": ["created", "data"],
            "properties": {
                "created": {"type": "integer"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "b64_json": {"type": "string"},
                            "url": {"type": "string", "format": "uri"},
                        },
                    },
                },
            },
        },
        "OpenAIError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type", "param", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "param": {"type": ["string", "null"]},
                        "code": {"type": ["string", "null"]},
                    },
                }
            },
        },
        "OpenAIModelList": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {
                "object": {"const": "list"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "object", "created", "owned_by"],
                        "properties": {
                            "id": {"type": "string"},
                            "object": {"const": "model"},
                            "created": {"type": "integer"},
                            "owned_by": {"type": "string"},
                        },
                    },
                },
            },
        },
    }


def _openai_responses(ok: str) -> dict[str, Any]:
    error = _ref("OpenAIError")
    return {
        "200": _json(_ref("OpenAIImagesResponse"), ok),
        "400": _json(error, "Invalid parameters, or a model not on offer for this key."),
        "401": _json(error, "The key is missing, unknown, revoked, or its member deactivated."),
        "402": _json(error, "Not enough credits, the key's budget or the team's cap."),
        "413": _too_large("OpenAIError"),
        "429": _json(
            error,
            "The member's limits (in flight, per minute), or too many waiting calls.",
            headers=RETRY_AFTER,
        ),
        "502": _json(
            error, "Every image failed; the reason is in the message.", headers=SHOULD_RETRY
        ),
        "504": _json(
            error,
            "Not ready within the server's wait; the generations go on in the member's history.",
            headers=SHOULD_RETRY,
        ),
    }


def document(base_url: str) -> dict[str, Any]:
    provider_error = _ref("ProviderError")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Banana Studio API",
            "version": "1.0.0",
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
            "schemas": _schemas(),
        },
        "paths": {
            "/api/image/gen": {
                "post": {
                    "operationId": "submitTask",
                    "summary": "Submit a generation (the provider's API)",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": _ref("ProviderSubmitRequest")}},
                    },
                    "callbacks": {"taskFinished": {"{$request.body#/callback_url}": _CALLBACK}},
                    "responses": {
                        "200": _json(_ref("ProviderSubmitOk"), "Accepted: keep the task_id."),
                        "400": _json(
                            provider_error,
                            "Bad parameters, malformed JSON, or credits refused (see `detail`).",
                        ),
                        "401": _json(provider_error, "Key refused: code 1."),
                        "413": _too_large("ProviderError"),
                        "429": _json(
                            provider_error,
                            "The member's limits (in flight, per minute).",
                            headers=RETRY_AFTER,
                        ),
                    },
                }
            },
            "/api/task/query": {
                "get": {
                    "operationId": "queryTask",
                    "summary": "A task's state (the provider's API)",
                    "parameters": [
                        {
                            "name": "task_id",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("ProviderQueryOk"), "The task."),
                        "400": _json(provider_error, "task_id is missing."),
                        "401": _json(provider_error, "Key refused: code 401."),
                        "404": _json(
                            provider_error,
                            "No such task of this member: code 1, message 'task not found'.",
                        ),
                    },
                }
            },
            "/v1/images/generations": {
                "post": {
                    "operationId": "createImage",
                    "summary": "Create images (OpenAI-compatible); waits until they are ready",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": _ref("OpenAIImagesRequest")}},
                    },
                    "responses": _openai_responses("The images."),
                }
            },
            "/v1/images/edits": {
                "post": {
                    "operationId": "createImageEdit",
                    "summary": "Images from reference images (OpenAI-compatible); waits",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": _ref("OpenAIImageEditRequest")}
                        },
                    },
                    "responses": _openai_responses("The images."),
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The models this key may use (OpenAI-compatible)",
                    "responses": {
                        "200": _json(_ref("OpenAIModelList"), "The models."),
                        "401": _json(_ref("OpenAIError"), "The key is refused."),
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
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_:-]{1,200}$"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The image.",
                            "content": {
                                "image/png": {},
                                "image/jpeg": {},
                                "image/webp": {},
                            },
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
