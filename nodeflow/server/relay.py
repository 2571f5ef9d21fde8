"""One run's engine events as ComfyUI websocket messages.

A :class:`Relay` is the executor's listener; it runs on the run's thread and hands each
message to ``send(kind, data)`` (the worker forwards it to the event loop). It also keeps the
messages ComfyUI stores in the history entry's status. Previews are encoded to JPEG here, off
the event loop, as ComfyUI's binary frame: event type 1 (preview image), image type 1 (JPEG),
both 4-byte big-endian, then the JPEG bytes.
"""
from __future__ import annotations

import io
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

from ..engine import events as ev
from ..errors import Problem

from .faults import explain_node_error

log = logging.getLogger("nodeflow.server")

PREVIEW_IMAGE = 1
JPEG = 1
PREVIEW = "preview"
"""The ``kind`` under which binary preview frames are sent."""

Send = Callable[[str, Any], None]


def now_ms() -> int:
    return int(time.time() * 1000)


def preview_frame(image: Any, max_size: int = 512) -> bytes:
    """A PIL image as ComfyUI's binary preview frame."""
    image = image.convert("RGB")
    if max(image.size) > max_size:
        image = image.copy()
        image.thumbnail((max_size, max_size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return struct.pack(">II", PREVIEW_IMAGE, JPEG) + buffer.getvalue()


class Relay:
    # the messages ComfyUI keeps in a history entry's status
    HISTORY_KINDS = frozenset({"execution_start", "execution_cached", "execution_success",
                               "execution_error", "execution_interrupted"})

    def __init__(self, send: Send, prompt_id: str, node_types: dict[str, str]):
        self._send = send
        self.prompt_id = prompt_id
        self.node_types = node_types
        self.messages: list[list[Any]] = []
        self.executed: list[str] = []
        self.error: dict[str, Any] | None = None
        self.current: str | None = None
        """The node running now (named when something escapes the executor)."""
        self._terminal: ev.Event | None = None

    def __call__(self, event: ev.Event) -> None:
        kind, node = event.kind, event.node
        if kind == ev.RUN_STARTED:
            self.emit("execution_start", {"timestamp": now_ms()})
        elif kind == ev.NODES_CACHED:
            self.executed.extend(event.data.get("nodes", []))
            self.emit("execution_cached", {"nodes": list(event.data.get("nodes", [])),
                                           "timestamp": now_ms()})
        elif kind == ev.NODE_STARTED:
            self.current = node
            self.emit("executing", {"node": node,
                                    "display_node": event.data.get("display_node", node)})
        elif kind == ev.PROGRESS:
            self.emit("progress", {"value": event.data["value"], "max": event.data["max"],
                                   "node": node})
            if event.data.get("preview") is not None:
                self._send_preview(event.data["preview"])
        elif kind == ev.NODE_FINISHED:
            self.executed.append(node)
            if event.data.get("ui"):
                self.emit_executed(node, event.data["ui"], event.data.get("display_node"))
        elif kind == ev.MESSAGE:
            self._send(event.data["event"], event.data["data"])
        elif kind in (ev.RUN_SUCCEEDED, ev.RUN_FAILED, ev.RUN_INTERRUPTED):
            self._terminal = event  # sent by finish(), after the cached nodes' results

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        message = {**data, "prompt_id": self.prompt_id}
        if kind in self.HISTORY_KINDS:
            self.messages.append([kind, message])
        self._send(kind, message)

    def emit_executed(self, node: str, ui: dict[str, Any], display_node: str | None = None
                      ) -> None:
        """``display_node``: the node the user sees, for nodes inside subgraphs/expansions."""
        self.emit("executed", {"node": node, "display_node": display_node or node,
                               "output": ui})

    def finish(self, cached_outputs: dict[str, dict[str, Any]]) -> None:
        """Send what cached output nodes show, then how the run ended."""
        for node, ui in cached_outputs.items():
            self.emit_executed(node, ui)
        event = self._terminal
        if event is None or event.kind == ev.RUN_SUCCEEDED:
            self.emit("execution_success", {"timestamp": now_ms()})
        elif event.kind == ev.RUN_FAILED:
            data = event.data
            if data.get("traceback"):
                log.error("prompt %s: node %s (%s) failed:\n%s", self.prompt_id, event.node,
                          data.get("node_type"), data["traceback"].rstrip())
            self.fail(event.node, data.get("type") or "Error",
                      explain_node_error(data.get("message") or ""))
        else:
            self.emit("execution_interrupted", {
                "node_id": event.node, "node_type": self.node_types.get(event.node or ""),
                "executed": list(self.executed), "timestamp": now_ms()})
        self.emit("executing", {"node": None, "display_node": None})

    def fail(self, node: str | None, error_type: str, message: str) -> None:
        """An execution_error (no traceback: that stays in the server log)."""
        self.error = {"node": node, "node_type": self.node_types.get(node or ""),
                      "type": error_type, "message": message}
        self.emit("execution_error", {
            "node_id": node, "node_type": self.node_types.get(node or ""),
            "executed": list(self.executed), "exception_message": message,
            "exception_type": error_type, "traceback": [], "current_inputs": {},
            "current_outputs": {}, "timestamp": now_ms()})

    def invalid(self, problems: list[Problem]) -> None:
        """The workflow no longer validates when its turn came (a model file was removed,
        a pack changed): an error run that names every problem."""
        self.emit("execution_start", {"timestamp": now_ms()})
        node = next((p.node for p in problems if p.node is not None), None)
        self.fail(node, "WorkflowError", "; ".join(str(p) for p in problems))
        self.emit("executing", {"node": None, "display_node": None})

    def _send_preview(self, image: Any) -> None:
        try:
            frame = preview_frame(image)
        except Exception:  # a preview that cannot be encoded is skipped, the run goes on
            log.warning("prompt %s: could not encode a preview", self.prompt_id, exc_info=True)
            return
        self._send(PREVIEW, frame)
