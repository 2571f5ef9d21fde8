"""The one worker: runs queued prompts in order, each on its own thread, off the event loop.

The queue lives in SQLite (:mod:`queue_store`), so the worker only needs a nudge when a prompt
arrives. The executor is synchronous; its events come back through a :class:`Relay` and
``loop.call_soon_threadsafe``. Interrupting sets the run's ``threading.Event``, which nodes see
at their next progress report or interrupt check.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..comfy import is_api_prompt
from ..errors import WorkflowError
from ..executor import Executor
from ..workflow import parse_workflow
from .queue_store import Outcome, QueueItem, QueueStore
from .relay import Relay
from .websocket import Hub

log = logging.getLogger("nodeflow.server")


@dataclass
class Running:
    item: QueueItem
    interrupt: threading.Event = field(default_factory=threading.Event)


class Worker:
    def __init__(self, store: QueueStore, hub: Hub, executor: Executor, *,
                 paused: bool = False, grace_s: float = 10.0):
        self.store = store
        self.hub = hub
        self.executor = executor
        self.paused = paused
        self.grace_s = grace_s
        self.current: Running | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    # -- called by the routes ---------------------------------------------------------------

    def wake(self) -> None:
        """A prompt was queued (or the queue changed): look again, and tell every client."""
        self._wake.set()
        self.broadcast_status()

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Stop the running prompt (only if it is ``prompt_id``, when given)."""
        running = self.current
        if running is None or (prompt_id is not None and running.item.prompt_id != prompt_id):
            return False
        running.interrupt.set()
        return True

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.store.remaining()}}

    def broadcast_status(self) -> None:
        self.hub.post("status", {"status": self.queue_info()})

    # -- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever(),
                                                            name="nodeflow-worker")

    async def stop(self) -> None:
        """Interrupt the running prompt and wait (up to grace_s) for it to end and be recorded.
        A run that does not stop in time stays 'running' in the store; the next start marks it
        failed."""
        self._stopping = True
        self._wake.set()
        self.interrupt()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.grace_s)
        except asyncio.TimeoutError:
            log.warning("the running prompt did not stop within %.0f s; it will be marked "
                        "failed at the next start", self.grace_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        except Exception:  # the worker itself failed; it is stopped either way
            log.exception("the worker failed")

    async def _run_forever(self) -> None:
        while not self._stopping:
            item = None if self.paused else self.store.take_next()
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._run(item)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug of ours must not stop the queue
                log.exception("prompt %s: the worker failed", item.prompt_id)
                self.store.finish(item.prompt_id, Outcome("error", error={
                    "type": "InternalError", "message": "internal server error"}))
                self.broadcast_status()

    async def _run(self, item: QueueItem) -> None:
        loop = asyncio.get_running_loop()
        running = Running(item)
        self.current = running

        def send(kind: str, data: Any) -> None:
            try:
                loop.call_soon_threadsafe(self.hub.post, kind, data, item.client_id)
            except RuntimeError:  # the loop is gone (shutdown); nobody is listening
                pass

        relay = Relay(send, item.prompt_id, node_types(item))
        try:
            outcome = await _in_thread(lambda: self._execute(item, relay, running.interrupt))
        finally:
            self.current = None
        self.store.finish(item.prompt_id, outcome)
        self.broadcast_status()

    def _execute(self, item: QueueItem, relay: Relay, interrupt: threading.Event) -> Outcome:
        """On the run's thread: run one prompt and say how it went."""
        try:
            workflow = parse_workflow(item.workflow)
            result = self.executor.run(workflow, listener=relay, interrupt=interrupt,
                                       run_id=item.prompt_id)
        except WorkflowError as exc:
            relay.invalid(exc.problems)
            return Outcome("error", messages=relay.messages, error=relay.error)
        except Exception:  # an engine bug: the traceback goes to the log, not to clients
            log.exception("prompt %s: the executor failed", item.prompt_id)
            relay.fail(None, "InternalError", "internal error while running the prompt (the "
                                              "server log has the details)")
            relay.emit("executing", {"node": None, "display_node": None})
            return Outcome("error", messages=relay.messages, error=relay.error)
        relay.finish({n: result.outputs[n] for n in result.cached if n in result.outputs})
        error = None
        if result.error:
            error = {k: v for k, v in result.error.items() if k != "traceback"}
        return Outcome(result.status, outputs=result.outputs, messages=relay.messages,
                       error=error)


def node_types(item: QueueItem) -> dict[str, str]:
    """The type each node is reported with: ComfyUI's class_type for an API-format prompt."""
    if is_api_prompt(item.prompt):
        return {str(k): v["class_type"] for k, v in item.prompt.items()}
    return {k: v.get("type", "") for k, v in item.workflow.get("nodes", {}).items()}


async def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a new daemon thread (so a stuck node never blocks process exit)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result, exc = fn(), None
        except BaseException as error:  # noqa: BLE001 - handed to the loop, which re-raises it
            result, exc = None, error
        try:
            loop.call_soon_threadsafe(settle, result, exc)
        except RuntimeError:  # the loop closed while we ran
            pass

    threading.Thread(target=target, name="nodeflow-run", daemon=True).start()
    return await future
