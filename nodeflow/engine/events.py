"""The one event interface of a run, used by the CLI's progress bar and the server's websocket.

Kinds, in the order a run emits them::

    run_started (data["nodes"]: what will run) -> nodes_cached (data["nodes"], and data["ui"]:
    the results cached output nodes reported) -> for each node that runs:
    node_started -> progress* (data: value, max, preview?) and log* (data["message"])
    -> node_finished (data["ui"]; data["blocked"] when an ExecutionBlocker stopped every run
    of the node)
    then one of run_succeeded, run_failed (data: type, message, input, traceback),
    run_interrupted.

Events of nodes inside subgraphs and expansions carry data["display_node"]: the node the user
sees in the editor. A lazy branch or an expansion adds nodes that run_started did not list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

RUN_STARTED = "run_started"
NODES_CACHED = "nodes_cached"
NODE_STARTED = "node_started"
PROGRESS = "progress"
NODE_FINISHED = "node_finished"
LOG = "log"
MESSAGE = "message"
"""A node's own message to the editor (``ctx.send``): data["event"], data["data"]."""
RUN_SUCCEEDED = "run_succeeded"
RUN_FAILED = "run_failed"
RUN_INTERRUPTED = "run_interrupted"


@dataclass(frozen=True)
class Event:
    kind: str
    run_id: str
    node: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The listener used when nobody listens."""
