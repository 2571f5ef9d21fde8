"""``ctx``: what a running node may use besides its inputs.

Progress and previews, the interrupt check, messages (``log``), results to show (``report``),
the user's folders, the process-wide model cache (``models``), and the workflow being run
(SaveImage embeds it in its PNGs).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import Interrupted
from .events import LOG, MESSAGE, PROGRESS, Event, Listener
from .model_cache import ModelCache
from ..settings import Settings


class NodeContext:
    def __init__(self, *, node_id: str, type_name: str, run_id: str, settings: Settings,
                 listener: Listener, interrupt: threading.Event, workflow: Any = None,
                 models: ModelCache | None = None, extra: dict[str, Any] | None = None,
                 registry: Any = None):
        self.node_id = node_id
        """The id of the running node in the workflow (``parent/local`` inside expansions)."""
        self.type_name = type_name
        self.run_id = run_id
        self.settings = settings
        self.workflow = workflow
        """The workflow being run (a :class:`~nodeflow.workflow.Workflow`), as the user saved it."""
        self.extra: dict[str, Any] = extra if extra is not None else {}
        """Metadata of the run (e.g. ``extra_pnginfo`` sent by a client): read it, and add keys
        to be written into saved PNGs next to the workflow."""
        self.registry = registry
        """The node types of the run (None outside the executor): SaveImage exports the
        workflow to ComfyUI's formats through it, pack nodes included."""
        self.models = models if models is not None else ModelCache()
        self.ui: dict[str, list[Any]] = {}
        self._listener = listener
        self._interrupt = interrupt

    def check_interrupt(self) -> None:
        """Raise :class:`Interrupted` if the user asked to stop; call it between steps."""
        if self._interrupt.is_set():
            raise Interrupted()

    def progress(self, value: int, total: int, preview: Any = None) -> None:
        """Report step ``value`` of ``total`` (with an optional preview image); this is also
        an interrupt check, so a sampler that reports each step stops within one step."""
        self.check_interrupt()
        data = {"value": value, "max": total}
        if preview is not None:
            data["preview"] = preview
        self._listener(Event(PROGRESS, self.run_id, self.node_id, data))

    def log(self, message: str) -> None:
        """A line for the user (the device and precision chosen, a fallback taken, ...)."""
        self._listener(Event(LOG, self.run_id, self.node_id, {"message": message}))

    def send(self, event: str, data: Any = None) -> None:
        """Send a message to the editor clients watching this run: a websocket message
        ``{"type": event, "data": data}`` (``data`` must be JSON). The CLI ignores it."""
        if not isinstance(event, str) or not event:
            raise ValueError("ctx.send: the event name must be a non-empty string")
        self._listener(Event(MESSAGE, self.run_id, self.node_id, {"event": event, "data": data}))

    def report(self, **items: list[Any]) -> None:
        """Add results to show, e.g. ``ctx.report(images=[{"filename": ..., "subfolder": "",
        "type": "output"}])``; they reach the editor and the CLI with ``node_finished``."""
        for key, values in items.items():
            self.ui.setdefault(key, []).extend(values)

    @property
    def input_dir(self) -> Path:
        return self.settings.input_dir

    @property
    def output_dir(self) -> Path:
        return self.settings.output_dir

    @property
    def temp_dir(self) -> Path:
        return self.settings.temp_dir

    @property
    def device(self) -> str:
        """The torch device to compute on: cuda, then mps, else cpu (imports torch)."""
        import torch

        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
