"""Queueing prompts, the queue itself, interrupting, and the history (ComfyUI's shapes)."""
from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from .bodies import read_json_object, string_list
from .errors import ApiError
from .prompts import PromptRejected, accept_prompt
from .json_safe import dumps
from .queue_store import MAX_NUMBER, DuplicatePromptId, QueueItem
from .routing import Param, RouteTable
from .state import REGISTRY, SETTINGS, STORE, WORKER

routes = RouteTable("queue")
MAX_QUERY_INT = 2**31 - 1


@routes.get("/prompt", "How many prompts are queued or running",
            responses={200: ("Queue status", "QueueInfo")})
async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(await request.app[WORKER].queue_info())


@routes.post("/prompt", "Queue a prompt: a nodeflow workflow or a ComfyUI API-format graph",
             body="PromptRequest",
             responses={200: ("Queued", "PromptQueued"),
                        400: ("The prompt cannot run; every problem, per node", "PromptError")})
async def post_prompt(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    if "prompt" not in body:
        return web.json_response({"error": {"type": "no_prompt", "message": "no prompt",
                                            "details": "the body needs a \"prompt\"",
                                            "extra_info": {}}, "node_errors": {}}, status=400)
    extra_data = body.get("extra_data") or {}
    if not isinstance(extra_data, dict):
        raise ApiError(400, "extra_data must be an object")
    client_id = body.get("client_id", extra_data.get("client_id"))
    if client_id is not None:
        if not isinstance(client_id, str):
            raise ApiError(400, "client_id must be a string")
        extra_data = {**extra_data, "client_id": client_id}
    prompt_id = body.get("prompt_id") or str(uuid.uuid4())
    if not isinstance(prompt_id, str) or len(prompt_id) > 200:
        raise ApiError(400, "prompt_id must be a string of at most 200 characters")
    number = _number(body)
    try:
        accepted = await asyncio.to_thread(accept_prompt, body["prompt"], request.app[REGISTRY],
                                           request.app[SETTINGS])
    except PromptRejected as rejected:
        return web.json_response(rejected.to_json(), status=400)
    item = QueueItem(prompt_id, 0, body["prompt"], accepted.workflow, extra_data,
                     accepted.outputs, client_id)
    try:
        number = await request.app[STORE].call("enqueue", item, number=number,
                                               front=bool(body.get("front")))
    except DuplicatePromptId:
        raise ApiError(400, f"prompt_id {prompt_id!r} is already in use",
                       "duplicate_prompt_id") from None
    await request.app[WORKER].notify()
    return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})


def _number(body: dict) -> float | None:
    """The client's own queue position, if it gave one: a finite number within what a JSON
    double holds exactly (a huge one would leave no room for the numbers after it)."""
    if "number" not in body:
        return None
    value = body["number"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, "number must be a number")
    if not -MAX_NUMBER < value < MAX_NUMBER:
        raise ApiError(400, f"number must lie between -2**53 and 2**53, not {value:.6g}")
    return value


@routes.get("/queue", "The running and pending prompts",
            responses={200: ("[number, prompt_id, prompt, extra_data, outputs] per prompt",
                             "Queue")})
async def get_queue(request: web.Request) -> web.Response:
    store = request.app[STORE]
    running, pending = await store.call("running"), await store.call("pending")
    return json_response({"queue_running": [i.comfy_entry() for i in running],
                          "queue_pending": [i.comfy_entry() for i in pending]})


@routes.post("/queue", "Clear the pending prompts or delete some ({\"clear\": true}, "
             "{\"delete\": [prompt_id, ...]})", body="QueueAction",
             responses={200: ("How many were removed", "Removed"),
                        400: ("Malformed request", "Error")})
async def post_queue(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    store = request.app[STORE]
    removed = 0
    if body.get("clear"):
        removed += await store.call("clear_pending")
    if "delete" in body:
        names = string_list(body["delete"], "delete")
        removed += await store.call("delete_pending", names)
        removed += request.app[WORKER].cancel_running(names)
    await request.app[WORKER].broadcast_status()
    return web.json_response({"removed": removed})


@routes.post("/interrupt", "Stop the running prompt (only that one, if prompt_id is given)",
             body="InterruptRequest",
             responses={200: ("Whether a prompt was interrupted", "Interrupted")})
async def post_interrupt(request: web.Request) -> web.Response:
    body = await read_json_object(request, required=False)
    prompt_id = body.get("prompt_id")
    if prompt_id is not None and not isinstance(prompt_id, str):
        raise ApiError(400, "prompt_id must be a string")
    return web.json_response({"interrupted": request.app[WORKER].interrupt(prompt_id)})


@routes.get("/history", "Finished prompts, oldest first",
            query=(Param("max_items", "at most this many (the newest)", type="integer"),
                   Param("offset", "skip this many, counting from the oldest",
                         type="integer")),
            responses={200: ("History by prompt id", "History"),
                       400: ("Bad max_items or offset", "Error")})
async def get_history(request: web.Request) -> web.Response:
    max_items = _int_query(request, "max_items")
    offset = _int_query(request, "offset")
    return json_response(await request.app[STORE].call("history", max_items=max_items,
                                                       offset=offset))


@routes.get("/history/{prompt_id}", "One finished prompt ({} while it is queued or unknown)",
            responses={200: ("History with that one prompt, or {}", "History")})
async def get_history_item(request: web.Request) -> web.Response:
    return json_response(await request.app[STORE].call(
        "history", prompt_id=request.match_info["prompt_id"]))


@routes.post("/history", "Clear the history or delete some entries", body="QueueAction",
             responses={200: ("Done", "Empty"), 400: ("Malformed request", "Error")})
async def post_history(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    store = request.app[STORE]
    if body.get("clear"):
        await store.call("clear_history")
    if "delete" in body:
        await store.call("delete_history", string_list(body["delete"], "delete"))
    return web.json_response({})


def _int_query(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number") from None
    if not 0 <= number <= MAX_QUERY_INT:
        raise ApiError(400, f"{name} must be between 0 and {MAX_QUERY_INT}")
    return number


def json_response(data: object) -> web.Response:
    """Stored entries as standard JSON (no NaN or Infinity that a browser would refuse)."""
    return web.json_response(data, dumps=dumps)
