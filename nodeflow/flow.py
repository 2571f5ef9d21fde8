"""Control flow for node authors: blocking a branch, and expanding a node into a small graph.

``ExecutionBlocker`` is a value a node returns on an output to stop what follows: a node that
receives it does not run and passes the blocker on (no error). ``GraphBuilder`` builds the
graph a node returns (``return g.finish(...)``) for the executor to run in its place; links
between the new nodes are by output name, like links in a workflow file.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any


class ExecutionBlocker:
    """Returned as an output value: downstream nodes that get it do not run.

    With a ``message`` the blocked node's run reports it as a log line (for "this branch was
    switched off" notes); without one nothing is said. The same rule as ComfyUI's."""

    __slots__ = ("message",)

    def __init__(self, message: str | None = None):
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"


@dataclass(frozen=True)
class NodeHandle:
    """A node added to a :class:`GraphBuilder`; ``out(name)`` links to one of its outputs."""

    id: str
    type: str

    def out(self, name: str) -> dict[str, str]:
        return {"node": self.id, "output": name}


@dataclass
class Expansion:
    """What an expanding node returns: new nodes, and its own outputs in terms of them.

    ``outputs`` maps each of the node's declared output names to a link made with
    ``handle.out(name)`` or to a plain value."""

    nodes: dict[str, dict[str, Any]]
    outputs: dict[str, Any]


@dataclass
class GraphBuilder:
    """Builds the graph an expanding node returns::

        g = GraphBuilder()
        a = g.node("ImageScaleBy", image=image, scale=2.0)
        b = g.node("ImageScaleBy", image=a.out("image"), scale=2.0)
        return g.finish(image=b.out("image"))

    Input values are links from ``out()``, JSON literals, or any Python value the node
    already holds (an input tensor, say): such values are passed on as they are.
    Node ids are local ("1", "2", ... unless given); the executor runs them as
    ``<node id>/<local id>`` so caching and error messages can tell them apart."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1), repr=False)

    def node(self, type: str, id: str | None = None, **inputs: Any) -> NodeHandle:
        node_id = id if id is not None else str(next(self._ids))
        while id is None and node_id in self.nodes:
            node_id = str(next(self._ids))
        if node_id in self.nodes:
            raise ValueError(f"GraphBuilder: node id {node_id!r} is used twice")
        self.nodes[node_id] = {"type": type, "inputs": dict(inputs)}
        return NodeHandle(node_id, type)

    def finish(self, **outputs: Any) -> Expansion:
        """The expansion, with the expanding node's outputs by name."""
        return Expansion(dict(self.nodes), dict(outputs))
