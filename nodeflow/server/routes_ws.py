"""GET /ws?clientId=: the websocket that carries status, progress and results."""
from __future__ import annotations

import uuid

from aiohttp import web

from .errors import ApiError
from .feature_flags import client_message
from .routing import Param, RouteTable
from .state import HUB, WORKER

routes = RouteTable("websocket")


@routes.get("/ws", "Websocket: ComfyUI's status/execution_*/executing/progress/executed "
            "messages and binary preview frames",
            query=(Param("clientId", "your client id (send it as client_id with /prompt); "
                                     "one is made up if missing"),),
            responses={101: ("Switching to the websocket protocol", None),
                       400: ("Not a websocket request", "Error")})
async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "this route needs a websocket upgrade request")
    sid = request.query.get("clientId") or uuid.uuid4().hex
    if len(sid) > 200:
        raise ApiError(400, "clientId is too long")
    await ws.prepare(request)
    hub, worker = request.app[HUB], request.app[WORKER]
    # a reconnecting client takes its id back; its first message is the queue count known now,
    # ahead of any broadcast still in the outbox from before it connected
    hub.add(sid, ws, request.transport,
            first=("status", {"status": worker.last_queue_info(), "sid": sid}))
    try:
        async for message in ws:
            client_message(request.app, sid, message)  # ComfyUI's feature flags
    finally:
        hub.remove(sid, ws)
    return ws
