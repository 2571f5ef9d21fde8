"""The worker: one Ray actor per GPU (or per CPU slot), with its own executor and model cache.

It runs in a scratch base folder of its own: ``models`` (and extra_model_paths, components)
link to the head's base folder where this machine has it, ``custom_nodes`` is the copy Ray
shipped (runtime_env working_dir), ``input`` holds the images the head sent (or links to the
head's input folder on the head's own machine), ``output``/``temp`` are where nodes save
before the files travel back. A prompt runs on a thread; its websocket messages stream back
to the head as the items of a Ray streaming generator, files attached to ``executed``.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import ray

BASE_LINKS = ("models", "components", "extra_model_paths.yaml", "extra_model_paths.json")
SCRATCH_PREFIX = "nodeflow-worker-"


class WorkerActor:
    def __init__(self, options: dict[str, Any]):
        from ..engine.executor import Executor
        from ..plugins import load_registry
        from ..settings import Settings
        from .capabilities import describe

        self.incarnation = uuid.uuid4().hex[:12]
        self.node_id = ray.get_runtime_context().get_node_id()
        self.same_node = options["head_node_id"] == self.node_id
        sweep_stale_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        self._link_base(Path(options["head_base"]), options.get("shipped_custom_nodes", False))
        self.settings = Settings(base_dir=self.scratch, **options.get("settings", {}))
        self.registry = load_registry(self.settings)
        self.executor = Executor(self.registry, self.settings)
        self.caps = describe(self.registry, self.settings)
        self.inputs: dict[str, str] = {}
        """input file name -> content hash of what is written there."""
        self.sent: dict[Path, tuple[int, int]] = {}
        self.runs: dict[str, threading.Event] = {}

    def _link_base(self, head_base: Path, shipped: bool) -> None:
        from ..settings import default_base_dir

        own = head_base if head_base.is_dir() else default_base_dir()
        for name in BASE_LINKS:
            if (own / name).exists():
                (self.scratch / name).symlink_to(own / name)
        if shipped:
            (self.scratch / "custom_nodes").symlink_to(Path.cwd())
        elif self.same_node and (head_base / "custom_nodes").is_dir():
            (self.scratch / "custom_nodes").symlink_to(head_base / "custom_nodes")
        if self.same_node and head_base.is_dir():  # the head's own folder: nothing to ship
            (head_base / "input").mkdir(exist_ok=True)
            (self.scratch / "input").symlink_to(head_base / "input")

    async def describe(self) -> dict[str, Any]:
        """What this worker can run, asked again each time (model files come and go)."""
        from .capabilities import describe

        self.caps = await asyncio.to_thread(describe, self.registry, self.settings)
        return {"caps": self.caps.to_json(), "incarnation": self.incarnation,
                "node_id": self.node_id, "same_node": self.same_node, "pid": os.getpid(),
                "gpu_ids": [str(g) for g in ray.get_gpu_ids()], "scratch": str(self.scratch),
                "loads": self.executor.models.loads, "failures": self.registry.failures_json()}

    async def interrupt(self, key: str) -> bool:
        event = self.runs.get(key)
        if event is not None:
            event.set()
        return event is not None

    async def run(self, key: str, item: dict[str, Any], inputs: dict[str, tuple[str, Any]]):
        """Run one prompt; yields ``{"kind", "data", "files"}`` messages, then
        ``{"kind": "outcome", ...}``. ``inputs``: name -> (hash, bytes or an ObjectRef)."""
        from ..server.queue_store import QueueItem
        from ..server.relay import Relay
        from ..server.worker import execute_item, node_types

        await self._receive_inputs(inputs)
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        interrupt = threading.Event()
        self.runs[key] = interrupt
        queued = QueueItem(**item)

        def send(kind: str, data: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, data))

        relay = Relay(send, queued.prompt_id, node_types(queued))
        done = loop.run_in_executor(None, execute_item, self.executor, queued, relay,
                                    interrupt)
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
        try:
            while (message := await queue.get()) is not None:
                kind, data = message
                files = self._files(data.get("output")) if kind == "executed" else {}
                yield {"kind": kind, "data": data, "files": files}
            outcome = await done
        finally:
            self.runs.pop(key, None)
        yield {"kind": "outcome", "status": outcome.status, "outputs": outcome.outputs,
               "messages": outcome.messages, "error": outcome.error,
               "files": self._files_of_outputs(outcome.outputs),
               "loads": self.executor.models.loads}

    async def _receive_inputs(self, inputs: dict[str, tuple[str, Any]]) -> None:
        from .files import confined

        for name, (digest, data) in inputs.items():
            if self.inputs.get(name) == digest:
                continue
            if isinstance(data, ray.ObjectRef):
                data = await data
            path = confined(self.settings.input_dir, "", name)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".partial-{path.name}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            self.inputs[name] = digest

    def _files(self, ui: Any) -> dict:
        """Files named by ``ui`` that the head has not been sent yet."""
        from .files import confined, entry_key, file_entries, folder_of

        files = {}
        for entry in file_entries(ui):
            key = entry_key(entry)
            try:
                path = confined(folder_of(self.settings, key[0]), key[1], key[2])
                stat = path.stat()
            except (OSError, ValueError):
                continue
            if self.sent.get(path) == (stat.st_mtime_ns, stat.st_size):
                continue
            files[key] = path.read_bytes()
            self.sent[path] = (stat.st_mtime_ns, stat.st_size)
        return files

    def _files_of_outputs(self, outputs: dict) -> dict:
        files: dict = {}
        for ui in outputs.values():
            files.update(self._files(ui))
        return files

    async def shutdown(self) -> None:
        """Remove the scratch folder (the head has every file it needs)."""
        shutil.rmtree(self.scratch, ignore_errors=True)


def sweep_stale_scratch() -> None:
    """Remove the scratch folders of workers whose process is gone (killed, out of memory:
    they never got to clean up)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
