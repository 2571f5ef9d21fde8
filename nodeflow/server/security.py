"""Who may talk to the server: Host and Origin checks, the access token, safe headers.

- Bound to loopback, a request must name a loopback Host (a DNS-rebinding page cannot).
- A POST/PUT/DELETE (or websocket) whose Origin is not this server, or whose Sec-Fetch-Site
  says another site sent it, is refused with 403: a page on another site must not queue
  prompts on a local server (ComfyUI's CVE-2024-10481). A browser's JSON body must also be
  declared as JSON (bodies.py), so a plain HTML form cannot post one.
- With a token, every route and the websocket need it: ``Authorization: Bearer <token>``,
  ``?token=<token>`` (which also sets an HttpOnly cookie, so the editor opened by that link
  keeps working) or that cookie.
"""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from .config import is_loopback
from .errors import json_error
from .state import CONFIG

TOKEN_COOKIE = "nodeflow_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
CROSS_SITE = frozenset({"cross-site", "same-site"})
"""Sec-Fetch-Site values of a page that is not this origin ("same-site" is another port or
subdomain: still another origin). Browsers send it even where they leave out Origin."""
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@web.middleware
async def origin_guard(request: web.Request, handler) -> web.StreamResponse:
    config = request.app[CONFIG]
    host = request.headers.get("Host", "")
    if config.loopback_only and not is_loopback(_hostname(host)):
        return json_error(403, "this server answers only to a loopback Host name such as "
                               "127.0.0.1 or localhost", "forbidden")
    origin = request.headers.get("Origin")
    unsafe = request.method in UNSAFE_METHODS or _is_websocket(request)
    if origin is not None and unsafe and not same_origin(origin, host):
        return json_error(403, f"cross-origin request from {origin!r} refused", "forbidden")
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if unsafe and fetch_site in CROSS_SITE:
        return json_error(403, f"request from another site refused (Sec-Fetch-Site: "
                               f"{fetch_site})", "forbidden")
    return await handler(request)


@web.middleware
async def token_guard(request: web.Request, handler) -> web.StreamResponse:
    token = request.app[CONFIG].token
    if token is None:
        return await handler(request)
    from_query = request.query.get("token")
    given = _bearer(request) or from_query or request.cookies.get(TOKEN_COOKIE)
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return json_error(401, "this server needs its access token (Authorization: Bearer "
                               "<token>, or ?token=<token>)", "unauthorized",
                          headers={"WWW-Authenticate": "Bearer"})
    response = await handler(request)
    if from_query and not response.prepared:
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: never let a browser guess a content type, frame us, or send our
    URLs (which may carry the token) to another site."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")


def same_origin(origin: str, host: str) -> bool:
    """Whether an Origin header names the same host and port as the Host header."""
    if not origin or origin == "null":
        return False
    parsed = urlsplit(origin)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.hostname:
        return False
    target = urlsplit("//" + host)
    if not target.hostname:
        return False
    try:
        origin_port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
        host_port = target.port or _DEFAULT_PORTS[parsed.scheme]
    except ValueError:
        return False
    return parsed.hostname.lower() == target.hostname.lower() and origin_port == host_port


def _hostname(host_header: str) -> str:
    try:
        return urlsplit("//" + host_header).hostname or ""
    except ValueError:
        return ""


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"
