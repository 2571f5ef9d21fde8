"""Reading request bodies: JSON objects, with errors a client can act on."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import ApiError
from .json_safe import UnsafeJson, loads_strict

_BROWSER_HEADERS = ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode")


async def read_json(request: web.Request, *, required: bool = True,
                    plain_text: bool = False) -> Any:
    """The body as JSON (see json_safe for what is refused). An empty body is ``{}`` when
    not ``required``. ``plain_text`` also takes a browser's text/plain body, for routes whose
    client sends JSON that way (ComfyUI's frontend stores settings so); security.origin_guard
    has already refused every other site's write, which is what the type check adds to."""
    if not (plain_text and request.content_type == "text/plain"):
        _check_content_type(request)
    try:
        text = await request.text()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the request body is larger than {request.client_max_size} bytes",
                       "too_large") from None
    except (UnicodeDecodeError, LookupError):
        raise ApiError(400, "the request body is not UTF-8 text", "invalid_json") from None
    if not text.strip() and not required:
        return {}
    try:
        return loads_strict(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc.msg} at line "
                            f"{exc.lineno} column {exc.colno}", "invalid_json") from None
    except UnsafeJson as exc:
        raise ApiError(400, f"the request body is not acceptable: {exc}",
                       "invalid_json") from None


def _check_content_type(request: web.Request) -> None:
    """A browser may send a form or text/plain body to any site without asking first, so a
    browser's request must say it is JSON. Scripts (no Origin, no Sec-Fetch-* headers) may
    leave the type unset or use urllib's default form type, as ComfyUI's own API examples do."""
    ctype = request.content_type
    if ctype == "application/json" or ctype.endswith("+json") or not request.can_read_body:
        return
    if any(h in request.headers for h in _BROWSER_HEADERS):
        raise ApiError(415, f"the body must be sent as application/json, not {ctype}",
                       "unsupported_media_type")


async def read_json_object(request: web.Request, *, required: bool = True,
                           plain_text: bool = False) -> dict:
    data = await read_json(request, required=required, plain_text=plain_text)
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    return data


def string_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{what} must be a list of strings")
    return value
