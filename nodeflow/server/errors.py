"""Errors as clients see them: JSON ``{"error": {"type", "message"}}``, never a traceback.

Handlers raise :class:`ApiError`; the middleware turns it, aiohttp's own HTTP errors and any
unexpected exception into JSON. A storage fault (disk full, name too long, database locked or
damaged) gets its own status and a sentence that says what to do (faults.py). Unexpected
ones are logged with their traceback here, on the server, and the client gets a sentence.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Any

from aiohttp import web

from .faults import describe

log = logging.getLogger("nodeflow.server")


class ApiError(Exception):
    def __init__(self, status: int, message: str, type: str = "bad_request", **extra: Any):
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.extra = extra


def json_error(status: int, message: str, type: str = "bad_request",
               headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    return web.json_response({"error": {"type": type, "message": message}, **extra},
                             status=status, headers=headers)


_KEEP_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, exc.type, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: exc.headers[k] for k in _KEEP_HEADERS if k in exc.headers}
        kind = "not_found" if exc.status == 404 else "http_error"
        return json_error(exc.status, exc.reason, kind, headers=headers)
    except ConnectionResetError:
        raise
    except (OSError, sqlite3.Error) as exc:
        fault = describe(exc)
        if fault is None:
            log.exception("error while answering %s %s", request.method, request.path)
            return json_error(500, "internal server error (the server log has the details)",
                              "internal_error")
        log.warning("%s %s: %s", request.method, request.path, fault.message)
        return json_error(fault.status, fault.message, fault.kind)
    except RecursionError:
        return json_error(400, "the request is nested too deeply", "bad_request")
    except Exception:  # a bug of ours: log it with the traceback, tell the client a sentence
        log.exception("error while answering %s %s", request.method, request.path)
        return json_error(500, "internal server error (the server log has the details)",
                          "internal_error")
