"""Errors that reach users. Each says what is wrong and where; none needs a traceback."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def short_repr(value: Any, limit: int = 60) -> str:
    """A value as it appears in an error message: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One validation problem: which node, which input, a sentence, and a machine-readable
    ``kind`` for clients (unknown_type, missing_input, unknown_input, missing_node,
    missing_output, type_mismatch, link_required, bad_link, wrong_type, below_min, above_max,
    not_multiple, too_long, not_a_choice, cycle, no_output, version, requires, file)."""

    node: str | None
    input: str | None
    message: str
    kind: str = "file"

    def __str__(self) -> str:
        where = []
        if self.node is not None:
            where.append(f"node '{self.node}'")
        if self.input is not None:
            where.append(f"input '{self.input}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_json(self) -> dict:
        return {"node": self.node, "input": self.input, "message": self.message,
                "kind": self.kind}


class WorkflowError(Exception):
    """A workflow that cannot run, with every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DeclarationError(TypeError):
    """A node declared in a way nodeflow cannot use (raised at import of its pack)."""


class NodeError(Exception):
    """Raise this from a node for a user's mistake (missing file, bad image size, ...).

    The message is shown as it is, without a traceback. ``input`` names the input at fault.
    """

    def __init__(self, message: str, *, input: str | None = None):
        super().__init__(message)
        self.input = input


class Interrupted(Exception):
    """The user asked to stop; raised by ``ctx.check_interrupt()`` and ``ctx.progress()``."""
