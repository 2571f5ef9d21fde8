"""The CLI's progress display on stderr: one line per node, a step bar while sampling."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from . import events as ev

_BAR = 24


class ProgressPrinter:
    """An event listener. On a terminal it redraws one line; elsewhere (logs, CI) it prints
    a line per node and no step bars."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = 0
        self.done = 0
        self.types: dict[str, str] = {}
        self._last_draw = 0.0

    def __call__(self, event: ev.Event) -> None:
        if event.kind == ev.RUN_STARTED:
            self.total = len(event.data.get("nodes", ()))
        elif event.kind == ev.NODES_CACHED and event.data.get("nodes"):
            self._line(f"cached: {', '.join(event.data['nodes'])}")
        elif event.kind == ev.NODE_STARTED:
            self.done += 1
            self.total = max(self.total, self.done)  # lazy branches and expansions join later
            self.types[event.node] = event.data.get("type", "")
            self._draw(self._label(event.node), final=not self.tty)
        elif event.kind == ev.PROGRESS and self.tty:
            now = time.monotonic()
            value, total = event.data["value"], event.data["max"]
            if value < total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            filled = int(_BAR * value / max(total, 1))
            bar = "#" * filled + "." * (_BAR - filled)
            self._draw(f"{self._label(event.node)} [{bar}] {value}/{total}")
        elif event.kind == ev.LOG:
            self._line(f"{event.node}: {event.data['message']}")
        elif event.kind in (ev.RUN_SUCCEEDED, ev.RUN_FAILED, ev.RUN_INTERRUPTED) and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _label(self, node_id: str | None) -> str:
        return f"[{self.done}/{self.total}] {node_id} ({self.types.get(node_id, '')})"

    def _draw(self, text: str, final: bool = False) -> None:
        if final:
            self._line(text)
        else:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()
