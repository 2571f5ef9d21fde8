"""The one worker: runs queued prompts in order, each on its own thread, off the event loop.

The queue lives in SQLite (:mod:`queue_store`, used through :mod:`store_thread`), so the
worker only needs a nudge when a prompt arrives. The executor is synchronous; its events come
back through a :class:`Relay` and ``loop.call_soon_threadsafe``. Interrupting sets the run's
``threading.Event``, which nodes see at their next progress report or interrupt check.
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
from ..engine.executor import Executor
from ..workflow import parse_workflow
from .faults import explain_node_error
from .queue_status import QueueStatus
from .queue_store import Outcome, QueueItem, failed_outcome
from .relay import Relay
from .store_thread import AsyncStore, StoreFailed
from .websocket import Hub

log = logging.getLogger("nodeflow.server")


@dataclass
class Running:
    item: QueueItem
    interrupt: threading.Event = field(default_factory=threading.Event)


class Worker(QueueStatus):
    """Runs the queue under a supervisor: a storage fault makes it wait and retry, a bug of
    ours restarts it, and whatever a node raises (even SystemExit or GeneratorExit) fails
    only that prompt. :meth:`health` says which state it is in and why."""

    def __init__(self, store: AsyncStore, hub: Hub, executor: Executor, *,
                 paused: bool = False, grace_s: float = 10.0, retry_s: float = 0.5):
        self.store = store
        self.hub = hub
        self.executor = executor
        self.paused = paused
        self.grace_s = grace_s
        self.retry_s = retry_s
        self.current: Running | None = None
        self.state = "starting"
        self.last_error: str | None = None
        self.restarts = 0
        self._remaining = 0
        self._taken: QueueItem | None = None
        self._unrecorded: list[tuple[str, Outcome]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    # -- called by the routes ---------------------------------------------------------------

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Stop the running prompt (only if it is ``prompt_id``, when given)."""
        running = self.current
        if running is None or (prompt_id is not None and running.item.prompt_id != prompt_id):
            return False
        running.interrupt.set()
        return True

    def cancel_running(self, prompt_ids: list[str]) -> int:
        """Deleting from the queue removes pending prompts only (as in ComfyUI); the running
        one is stopped with /interrupt. (The cluster's queue interrupts remote runs here.)"""
        return 0

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def health(self) -> dict[str, Any]:
        running = self.current
        return {"state": self.state if self.alive or self._stopping else "dead",
                "alive": self.alive, "restarts": self.restarts, "last_error": self.last_error,
                "running": running.item.prompt_id if running else None,
                "unrecorded": len(self._unrecorded)}

    # -- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(),
                                                            name="nodeflow-worker")

    async def stop(self) -> None:
        """Interrupt the running prompt and wait (up to grace_s) for it to end and be recorded.
        A run that does not stop in time stays 'running' in the store; the next start marks it
        failed. Calling it again returns at once."""
        self._stopping = True
        self._wake.set()
        self.interrupt()
        if self._task is None or self._task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.grace_s)
        except asyncio.TimeoutError:
            log.warning("the running prompt did not stop within %.0f s; it will be marked "
                        "failed at the next start", self.grace_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.state = "stopped"

    async def _supervise(self) -> None:
        """Keep the loop running: a failure of ours is logged, counted and restarted after
        a pause that grows (up to 5 s) while it keeps failing."""
        failures = 0
        while not self._stopping:
            try:
                await self._run_forever()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug of ours must not stop the queue for good
                failures += 1
                self.restarts += 1
                self.state = "restarting"
                self.last_error = f"the worker failed ({type(exc).__name__}: {exc}); restarted"
                log.exception("the worker failed; restarting it")
                self._fail_taken(f"the server failed while running this prompt "
                                 f"({type(exc).__name__}); the rest of the queue goes on")
                await self._pause(min(self.retry_s * 2 ** (failures - 1), 5.0))
            else:
                failures = 0
        self.state = "stopped"

    async def _run_forever(self) -> None:
        await self.queue_info()  # the count a new websocket client is told first
        while not self._stopping:
            try:
                await self._record_unrecorded()
                item = None if self.paused else await self.store.call("take_next")
            except StoreFailed as exc:
                self.state = "waiting"
                self.last_error = exc.message
                log.warning("the worker waits: %s", exc.message)
                await self._pause(self.retry_s)
                continue
            if item is None:
                self.state = "paused" if self.paused else "idle"
                self._wake.clear()
                if not self._stopping:  # stop() may have come while take_next ran
                    await self._wake.wait()
                continue
            self.state, self.last_error = "running", None
            self._taken = item
            await self._run(item)
            self._taken = None

    def _fail_taken(self, reason: str) -> None:
        """The prompt that was running when the loop failed is recorded as failed."""
        item, self._taken = self._taken, None
        if item is not None and all(p != item.prompt_id for p, _ in self._unrecorded):
            self._unrecorded.append((item.prompt_id, failed_outcome(
                item.prompt_id, "InternalError", reason)))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake early for stop()."""
        self._wake.clear()
        if self._stopping:
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _record_unrecorded(self) -> None:
        """Outcomes that could not be stored (disk full, lock) are stored before anything
        else runs, so no finished prompt is lost or shown as still running."""
        while self._unrecorded:
            prompt_id, outcome = self._unrecorded[0]
            try:
                await self.store.call("finish", prompt_id, outcome)
            except StoreFailed:
                raise
            except Exception as exc:  # a result that cannot be stored must not block the queue
                log.exception("prompt %s: its result cannot be stored", prompt_id)
                await self.store.call("finish", prompt_id, failed_outcome(
                    prompt_id, "InternalError", f"the result could not be stored "
                                                f"({type(exc).__name__}: {exc})"))
            self._unrecorded.pop(0)
            await self.broadcast_status()

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
        self._unrecorded.append((item.prompt_id, outcome))
        try:
            await self._record_unrecorded()
        except StoreFailed as exc:
            log.warning("prompt %s finished but cannot be recorded yet: %s", item.prompt_id,
                        exc.message)

    def _execute(self, item: QueueItem, relay: Relay, interrupt: threading.Event) -> Outcome:
        return execute_item(self.executor, item, relay, interrupt)


def execute_item(executor: Executor, item: QueueItem, relay: Relay,
                 interrupt: threading.Event) -> Outcome:
    """On the run's thread: run one prompt and say how it went. Nothing escapes. (The
    cluster's worker actors run their prompts through this too.)"""
    try:
        workflow = parse_workflow(item.workflow)
        extra = item.extra_data.get("extra_pnginfo") if isinstance(
            item.extra_data, dict) else None
        result = executor.run(workflow, listener=relay, interrupt=interrupt,
                              run_id=item.prompt_id,
                              extra=extra if isinstance(extra, dict) else None)
    except WorkflowError as exc:
        relay.invalid(exc.problems)
        return Outcome("error", messages=relay.messages, error=relay.error)
    except Exception:  # an engine bug: the traceback goes to the log, not to clients
        log.exception("prompt %s: the executor failed", item.prompt_id)
        relay.fail(relay.current, "InternalError", "internal error while running the "
                                                   "prompt (the server log has the details)")
        relay.emit("executing", {"node": None, "display_node": None})
        return Outcome("error", messages=relay.messages, error=relay.error)
    except BaseException as exc:  # noqa: BLE001 - SystemExit/GeneratorExit from a node
        return _escaped(item, relay, exc)
    relay.finish({n: result.outputs[n] for n in result.cached if n in result.outputs})
    error = None
    if result.error:
        error = {k: v for k, v in result.error.items() if k != "traceback"}
        error["message"] = explain_node_error(str(error.get("message") or ""))
    return Outcome(result.status, outputs=result.outputs, messages=relay.messages,
                   error=error)


def _escaped(item: QueueItem, relay: Relay, exc: BaseException) -> Outcome:
    """A node raised what is meant to end a process or a generator (a library calling
    sys.exit): it ends this prompt, with the node named, and the server goes on."""
    name = type(exc).__name__
    node = relay.current
    where = f"node {node} ({relay.node_types.get(node or '', '?')})" if node else "a node"
    log.error("prompt %s: %s raised %s(%s); the prompt failed, the server goes on",
              item.prompt_id, where, name, exc)
    relay.fail(node, name, f"{where} raised {name}" + (f": {exc}" if str(exc) else "")
               + "; this prompt was stopped, the server goes on")
    relay.emit("executing", {"node": None, "display_node": None})
    return Outcome("error", messages=relay.messages, error=relay.error)


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
