"""Reading request bodies: JSON objects, with errors a client can act on."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import ApiError


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    """The body as JSON. An empty body is ``{}`` when not ``required``."""
    try:
        text = await request.text()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the request body is larger than {request.client_max_size} bytes",
                       "too_large") from None
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text", "invalid_json") from None
    if not text.strip() and not required:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc.msg} at line "
                            f"{exc.lineno} column {exc.colno}", "invalid_json") from None
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply", "invalid_json") from None


async def read_json_object(request: web.Request, *, required: bool = True) -> dict:
    data = await read_json(request, required=required)
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    return data


def string_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{what} must be a list of strings")
    return value
