"""The OpenAPI 3.1 document, built from the same route tables the app registers."""
from __future__ import annotations

import re
from typing import Any

from .routing import RouteTable

_OBJ = {"type": "object"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_QUEUE_ENTRY = {"type": "array", "minItems": 5, "maxItems": 5,
                "description": "[number (null if not finite), prompt_id, prompt, extra_data, "
                               "outputs_to_execute]; tuple schemas (prefixItems) are left out "
                               "because common OpenAPI tools reject them"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "properties": {"type": {"type": "string"},
                                         "message": {"type": "string"}}}}},
    "Empty": _OBJ,
    "Workflow": {"type": "object", "description": "A nodeflow workflow file (format 1)",
                 "required": ["nodeflow", "nodes"],
                 "properties": {"nodeflow": {"const": 1}, "name": {"type": "string"},
                                "description": {"type": "string"},
                                "nodes": {"type": "object", "additionalProperties": {
                                    "type": "object", "required": ["type"],
                                    "properties": {"type": {"type": "string"},
                                                   "version": {"type": "string"},
                                                   "inputs": _OBJ, "ui": _OBJ}}},
                                "ui": _OBJ, "requires": _OBJ}},
    "ApiPrompt": {"type": "object", "description": "A ComfyUI API-format graph",
                  "additionalProperties": {"type": "object", "required": ["class_type"],
                                           "properties": {"class_type": {"type": "string"},
                                                          "inputs": _OBJ}}},
    "PromptRequest": {"type": "object", "required": ["prompt"], "properties": {
        "prompt": {"oneOf": [{"$ref": "#/components/schemas/Workflow"},
                             {"$ref": "#/components/schemas/ApiPrompt"}]},
        "client_id": {"type": "string"}, "prompt_id": {"type": "string"},
        "extra_data": _OBJ, "number": {"type": "number"}, "front": {"type": "boolean"}}},
    "PromptQueued": {"type": "object", "properties": {
        "prompt_id": {"type": "string"}, "number": {"type": "number"}, "node_errors": _OBJ}},
    "PromptError": {"type": "object", "properties": {
        "error": {"type": "object", "properties": {
            "type": {"type": "string"}, "message": {"type": "string"},
            "details": {"type": "string"}, "extra_info": _OBJ,
            "problems": {"type": "array", "items": {"type": "object", "properties": {
                "node": {"type": ["string", "null"]}, "input": {"type": ["string", "null"]},
                "message": {"type": "string"}}}}}},
        "node_errors": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {
                "errors": {"type": "array", "items": _OBJ},
                "dependent_outputs": _STRINGS,
                "class_type": {"type": ["string", "null"]}}}}}},
    "QueueInfo": {"type": "object", "properties": {"exec_info": {
        "type": "object", "properties": {"queue_remaining": {"type": "integer"}}}}},
    "Queue": {"type": "object", "properties": {
        "queue_running": {"type": "array", "items": _QUEUE_ENTRY},
        "queue_pending": {"type": "array", "items": _QUEUE_ENTRY}}},
    "QueueAction": {"type": "object", "properties": {"clear": {"type": "boolean"},
                                                     "delete": _STRINGS}},
    "Removed": {"type": "object", "properties": {"removed": {"type": "integer"}}},
    "InterruptRequest": {"type": "object", "properties": {"prompt_id": {"type": "string"}}},
    "Interrupted": {"type": "object", "properties": {"interrupted": {"type": "boolean"}}},
    "History": {"type": "object", "additionalProperties": {"type": "object", "properties": {
        "prompt": _QUEUE_ENTRY, "outputs": _OBJ,
        "status": {"type": "object", "properties": {
            "status_str": {"enum": ["success", "error"]}, "completed": {"type": "boolean"},
            "messages": {"type": "array", "items": {"type": "array"}}}},
        "meta": _OBJ, "nodeflow": _OBJ}}},
    "ObjectInfo": {"type": "object", "additionalProperties": {"type": "object", "properties": {
        "input": _OBJ, "input_order": _OBJ, "output": _STRINGS, "output_name": _STRINGS,
        "output_is_list": {"type": "array", "items": {"type": "boolean"}},
        "name": {"type": "string"}, "display_name": {"type": "string"},
        "description": {"type": "string"}, "category": {"type": "string"},
        "output_node": {"type": "boolean"}, "python_module": {"type": "string"},
        "nodeflow": _OBJ}}},
    "NodeflowInfo": {"type": "object", "properties": {
        "nodes": _OBJ, "packs": {"type": "array", "items": _OBJ},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "pack": {"type": "string"}, "origin": {"type": "string"},
            "reason": {"type": "string"}}}}}},
    "Uploaded": {"type": "object", "properties": {"name": {"type": "string"},
                                                  "subfolder": {"type": "string"},
                                                  "type": {"type": "string"}}},
    "SystemStats": {"type": "object", "properties": {
        "system": _OBJ, "devices": {"type": "array", "items": _OBJ},
        "nodeflow": {"$ref": "#/components/schemas/Health"}}},
    "WorkflowList": {"type": "object", "properties": {"workflows": _STRINGS}},
    "Saved": {"type": "object", "properties": {"name": {"type": "string"}}},
    "NameList": _STRINGS,
    "Health": {"type": "object", "required": ["ready", "problems"], "properties": {
        "ready": {"type": "boolean"},
        "problems": {"type": "array", "items": {"type": "string"},
                     "description": "Why the server is not ready, one sentence each"},
        "worker": {"type": "object", "properties": {
            "state": {"enum": ["starting", "idle", "paused", "running", "waiting",
                               "restarting", "stopped", "dead"]},
            "alive": {"type": "boolean"}, "restarts": {"type": "integer"},
            "last_error": {"type": ["string", "null"]},
            "running": {"type": ["string", "null"]}, "unrecorded": {"type": "integer"},
            "running_all": {"type": "array", "items": {"type": "string"},
                            "description": "serve --ray: every prompt running on a worker"},
            "workers": {"type": "array", "items": _OBJ,
                        "description": "serve --ray: each worker actor (name, state, node_id, "
                                       "pid, gpu_ids, restarts, loads, schema, running)"}}},
        "database": {"type": "object", "properties": {
            "fault": {"type": ["string", "null"]}, "message": {"type": ["string", "null"]}}},
        "disk": {"type": "object", "properties": {
            "ok": {"type": "boolean"}, "free_bytes": {"type": ["integer", "null"]},
            "message": {"type": ["string", "null"]}}},
        "websocket": {"type": "object", "properties": {
            "clients": {"type": "integer"}, "dropped": {"type": "integer"}}}}},
}

_DEFAULT = ("Any other error, as {\"error\": {type, message}}: 401 without the token, 403 "
            "from another site, 413 too large, 415 a browser body that is not JSON, 503 the "
            "queue database is locked or damaged, 507 the disk is full")

_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def openapi_document(tables: list[RouteTable], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for table in tables:
        for route in table.routes:
            path = _PATH_PARAM.sub(r"{\1}", route.path)
            parameters = [{"name": name, "in": "path", "required": True,
                           "schema": {"type": "string"}}
                          for name in _PATH_PARAM.findall(route.path)]
            parameters += [{"name": p.name, "in": "query", "required": p.required,
                            "description": p.description, "schema": {"type": p.type}}
                           for p in route.query]
            responses = {str(status): _response(description, schema)
                         for status, (description, schema) in route.responses.items()}
            if route.body and "400" not in responses:
                responses["400"] = _response("A body that cannot be read", "Error")
            responses.setdefault("default", _response(_DEFAULT, "Error"))
            operation: dict[str, Any] = {
                "summary": route.summary, "tags": [route.tag],
                "operationId": route.handler.__name__, "responses": responses,
            }
            if parameters:
                operation["parameters"] = parameters
            if route.body == "multipart":
                operation["requestBody"] = {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "type": {"enum": ["input", "temp", "output"]},
                        "subfolder": {"type": "string"},
                        "overwrite": {"type": "string"}}}}}}
            elif route.body:
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": _ref(route.body)}}}
            if route.api:
                operation["x-also-at"] = "/api" + path
            paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "nodeflow", "version": version,
                 "description": "nodeflow's API, in ComfyUI's shapes where ComfyUI has the "
                                "route. Every route but the editor's files is also served "
                                "under /api. With an access token, send it as "
                                "'Authorization: Bearer <token>' or '?token=<token>'."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "query": {"type": "apiKey", "in": "query", "name": "token"}},
        },
        "security": [{}, {"bearer": []}, {"query": []}],
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(description: str, schema: str | None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}
