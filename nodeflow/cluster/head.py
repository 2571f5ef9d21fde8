"""The head's side of ``nodeflow serve --ray``: the SQLite queue dispatched to worker actors.

:class:`ClusterQueue` stands where the single-process :class:`~nodeflow.server.worker.Worker`
stands (the routes call the same methods). SQLite stays the one record: a prompt is taken
for a named worker, requeued when that worker is lost (at most :data:`MAX_ATTEMPTS` takes,
another worker preferred) and finished with what the worker reported. A node error is a
result like any other and is never retried. Messages stream from the worker's generator
straight to the websocket hub; files come back with them (:mod:`.files`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

from ..registry import Registry
from ..server.queue_status import QueueStatus
from ..server.queue_store import Outcome, QueueItem, failed_outcome
from ..server.relay import PREVIEW
from ..server.store_thread import AsyncStore, StoreFailed
from ..server.websocket import Hub
from ..settings import Settings
from . import fanout
from .capabilities import Capabilities, ModelRef, Needs, describe, needs_of
from .files import ReturnedFiles, content_hash, read_inputs
from .scheduler import Job, WorkerView, assign, unrunnable

log = logging.getLogger("nodeflow.cluster")

MAX_ATTEMPTS = 3
WINDOW = 32
"""How many pending prompts the scheduler looks at (in queue order) per round."""
HOLDS_KEPT = 8
INPUT_REFS_KEPT = 64
"""Input images kept in Ray's object store (by content hash) for the next prompts."""
LOCALITY_WAIT_S = 5.0
"""How long a prompt waits for the busy worker that holds its models (see scheduler)."""
LOST = (RayActorError, ActorUnavailableError)


@dataclass
class Remote:
    """One worker actor as the head sees it."""
    name: str
    actor: Any
    state: str = "starting"  # starting, idle, running, restarting
    caps: Capabilities | None = None
    info: dict[str, Any] = field(default_factory=dict)
    holds: list[ModelRef] = field(default_factory=list)
    job: "Running | None" = None
    restarts: int = 0

    def view(self) -> WorkerView:
        return WorkerView(self.name, self.caps, set(self.holds))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "restarts": self.restarts,
                "running": self.job.item.prompt_id if self.job else None,
                "node_id": self.info.get("node_id"), "pid": self.info.get("pid"),
                "gpu_ids": self.info.get("gpu_ids"), "loads": self.info.get("loads"),
                "shares_head_files": self.info.get("same_node"),
                "schema": self.caps.digest if self.caps else None,
                "pack_failures": self.info.get("failures", [])}


@dataclass
class Running:
    key: str
    item: QueueItem
    job: Job
    group: fanout.FanOutRun | None = None
    shard: int | None = None


class ClusterQueue(QueueStatus):
    def __init__(self, store: AsyncStore, hub: Hub, registry: Registry, settings: Settings,
                 actors: list[tuple[str, Any]], *, paused: bool = False,
                 grace_s: float = 10.0, on_stop=None):
        self.store, self.hub, self.registry, self.settings = store, hub, registry, settings
        self.workers = [Remote(name, actor) for name, actor in actors]
        self.paused = paused
        self.grace_s = grace_s
        self._on_stop = on_stop
        """Called once at the end of stop(): remove the actors, leave the cluster."""
        self.head_caps = describe(registry, settings)
        self.files = ReturnedFiles(settings)
        self.fanouts: dict[str, fanout.FanOutRun] = {}
        self.skips: dict[str, int] = {}
        self.since: dict[str, float] = {}
        self.refresh_asked: set[str] = set()
        self._refreshing: asyncio.Task | None = None
        self.needs: dict[str, Needs] = {}
        self.input_refs: dict[str, Any] = {}
        self.last_error: str | None = None
        self.restarts = 0
        self._remaining = 0
        self._unrecorded: list[tuple[str, Outcome]] = []
        self._recording = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None

    # -- what the routes call (the single-process Worker's interface) ------------------------

    @property
    def current(self) -> Running | None:
        return next((w.job for w in self.workers if w.job), None)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt the named prompt (all its shards), or every running one."""
        hit = False
        for group in list(self.fanouts.values()):
            if prompt_id in (None, group.item.prompt_id) and group.waiting:
                group.cancel()  # shards not started yet never start
                self._spawn(self._group_done(group))
                hit = True
        for worker in self.workers:
            job = worker.job
            if job is not None and prompt_id in (None, job.item.prompt_id):
                worker.actor.interrupt.remote(job.key)
                hit = True
        return hit

    def cancel_running(self, prompt_ids: list[str]) -> int:
        """Deleting a prompt that runs on a worker interrupts it there."""
        return sum(self.interrupt(p) for p in prompt_ids)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def health(self) -> dict[str, Any]:
        up = [w for w in self.workers if w.state in ("idle", "running")]
        state = "paused" if self.paused else ("running" if any(w.job for w in self.workers)
                                              else "idle")
        error = self.last_error
        if not up:
            state = "waiting"
            error = (f"no worker is ready yet ({len(self.workers)} starting or restarting on "
                     "the Ray cluster)")
        running = [w.job.item.prompt_id for w in self.workers if w.job]
        return {"state": state if self.alive or self._stopping else "dead", "alive": self.alive,
                "restarts": self.restarts, "last_error": error,
                "running": running[0] if running else None, "running_all": running,
                "unrecorded": len(self._unrecorded),
                "workers": [w.to_json() for w in self.workers]}

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._supervise(), name="nodeflow-cluster")
        for worker in self.workers:
            self._spawn(self._await_ready(worker))

    async def stop(self) -> None:
        """Interrupt what runs, wait (up to grace_s) for it to be recorded, then remove the
        workers. A run still going after that stays 'running' in the store; the next start
        marks it failed, as after any crash. Calling it again returns at once."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self.interrupt()
        running = [t for t in self._tasks if t.get_name() == "drive"]
        if running:
            await asyncio.wait(running, timeout=self.grace_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._record_unrecorded(final=True)
        if self._on_stop is not None:
            await self._on_stop()

    def _spawn(self, coro, name: str = "task") -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _await_ready(self, worker: Remote) -> None:
        """Ask the actor to describe itself until it answers (it starts, or Ray restarts
        it after its process died); then it may take prompts."""
        while not self._stopping:
            try:
                info = await worker.actor.describe.remote()
            except ActorDiedError as exc:
                worker.state = "dead"
                self.last_error = f"worker {worker.name} is gone for good: {exc}"
                log.error(self.last_error)
                return
            except LOST:
                await asyncio.sleep(0.5)
                continue
            worker.caps = Capabilities.from_json(info.pop("caps"))
            worker.info, worker.holds = info, []
            worker.state = "idle"
            if worker.caps.digest != self.head_caps.digest:
                log.warning("worker %s has other node packs than the server (schema %s, "
                            "server %s): it gets only prompts it can run", worker.name,
                            worker.caps.digest, self.head_caps.digest)
            log.info("worker %s ready (pid %s, node %s, GPUs %s)", worker.name, info["pid"],
                     info["node_id"][:12], info["gpu_ids"] or "none")
            self.wake()
            return

    # -- dispatching ------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stopping:
            try:
                await self._dispatch_forever()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug of ours must not stop the queue for good
                self.restarts += 1
                self.last_error = f"the dispatcher failed ({type(exc).__name__}: {exc}); " \
                                  "restarted"
                log.exception("the cluster dispatcher failed; restarting it")
                await asyncio.sleep(0.5)

    async def _dispatch_forever(self) -> None:
        await self.queue_info()
        while not self._stopping:
            self._wake.clear()
            try:
                await self._record_unrecorded()
                if not self.paused:
                    await self._dispatch()
            except StoreFailed as exc:
                self.last_error = exc.message
                log.warning("the cluster waits: %s", exc.message)
                await asyncio.sleep(0.5)
                continue
            await self._wake.wait()

    async def _dispatch(self) -> None:
        idle = [w for w in self.workers if w.state == "idle"]
        if not idle:
            return
        window = await self.store.call("pending_window", WINDOW)
        if window and not self.fanouts and fanout.requested(window[0].item.extra_data):
            await self._start_fanout(window[0].item)  # its turn: its shards go first
        window = [p for p in window if fanout.requested(p.item.extra_data) is None]
        jobs: dict[str, tuple[Job, QueueItem, fanout.FanOutRun | None, int | None]] = {}
        for group in self.fanouts.values():
            for index, job in group.waiting.items():
                jobs[job.key] = (job, group.item, group, index)
        for order, pending in enumerate(window):
            item = pending.item
            try:
                needs = self._needs(item.prompt_id, item.workflow)
            except Exception as exc:  # the registry changed under a queued prompt
                await self._fail(item, "WorkflowError", f"this prompt cannot run any more: {exc}")
                continue
            since = self.since.setdefault(item.prompt_id, time.monotonic())
            jobs[item.prompt_id] = (Job(item.prompt_id, order, needs, pending.attempts,
                                        pending.last_worker, self.skips.get(item.prompt_id, 0),
                                        since), item, None, None)
        everyone = [w.view() for w in self.workers if w.caps is not None]
        for key, (job, item, group, _) in list(jobs.items()):
            reasons = unrunnable(job, everyone, self.head_caps)
            if reasons and group is None:
                del jobs[key]
                if key not in self.refresh_asked:  # a model file added since they started?
                    self.refresh_asked.add(key)
                    self._refreshing = self._spawn(self._refresh())
                if not self._refreshing.done():
                    continue
                await self._fail(item, "NoCapableWorker", "no worker can run this prompt: "
                                 + " | ".join(reasons))
        views = {w.name: w for w in everyone}
        plan = assign([j for j, *_ in jobs.values()], [views[w.name] for w in idle],
                      everyone, self.head_caps, now=time.monotonic(),
                      hold_s=LOCALITY_WAIT_S)
        if len(plan) < min(len(idle), len(jobs)):  # some held back for affinity: look again
            asyncio.get_running_loop().call_later(LOCALITY_WAIT_S, self.wake)
        for job, view in plan:
            _, item, group, index = jobs[job.key]
            worker = next(w for w in self.workers if w.name == view.name)
            if group is None:
                if not await self.store.call("take", item.prompt_id, worker.name):
                    continue  # deleted meanwhile
                self.skips.pop(item.prompt_id, None)
                self.since.pop(item.prompt_id, None)
            else:
                del group.waiting[index]
            self._start(worker, Running(job.key, item, job, group, index))
        self.since = {k: v for k, v in self.since.items() if k in jobs}
        self.skips = {job.key: job.skipped for job, *_ in jobs.values() if job.skipped}

    async def _refresh(self) -> None:
        """Ask every worker that is up for its capabilities again (its model lists)."""
        for worker in self.workers:
            if worker.state in ("idle", "running"):
                try:
                    info = await worker.actor.describe.remote()
                except LOST:
                    continue
                worker.caps = Capabilities.from_json(info["caps"])
        self.wake()

    def _needs(self, key: str, workflow: dict) -> Needs:
        if key not in self.needs:
            if len(self.needs) > 4 * WINDOW:
                self.needs.clear()
            self.needs[key] = needs_of(workflow, self.registry)
        return self.needs[key]

    async def _start_fanout(self, item: QueueItem) -> None:
        if not await self.store.call("take", item.prompt_id, "fan-out"):
            return
        try:
            spec = fanout.parse(fanout.requested(item.extra_data), item.workflow)
            shards = await asyncio.to_thread(fanout.shard_workflows, spec, item.workflow,
                                             self.registry, self.settings)
        except fanout.FanOutError as exc:
            await self._fail(item, "FanOutError", str(exc))
            return
        group = fanout.FanOutRun(item, shards)
        needs = self._needs(item.prompt_id, item.workflow)
        reasons = unrunnable(Job(item.prompt_id, 0, needs),
                             [w.view() for w in self.workers if w.caps is not None],
                             self.head_caps)
        if reasons:
            await self._fail(item, "NoCapableWorker", "no worker can run this prompt: "
                             + " | ".join(reasons))
            return
        for index in range(len(shards)):
            group.waiting[index] = Job(f"{item.prompt_id}#{index}", -len(shards) + index, needs)
        self.fanouts[item.prompt_id] = group

    def _start(self, worker: Remote, running: Running) -> None:
        worker.state, worker.job = "running", running
        worker.holds = (worker.holds + [m for m in running.job.needs.models
                                        if m not in worker.holds])[-HOLDS_KEPT:]
        self._spawn(self._drive(worker, running), name="drive")

    # -- one run on one worker --------------------------------------------------------------

    async def _drive(self, worker: Remote, running: Running) -> None:
        incarnation = worker.info.get("incarnation", "")
        item = running.item
        workflow = item.workflow if running.group is None else \
            running.group.shards[running.shard]
        payload = {**dataclasses.asdict(item), "workflow": workflow}
        outcome: dict | None = None
        result: Outcome | None = None
        try:
            inputs = await self._inputs(worker, running.job.needs)
            stream = worker.actor.run.remote(running.key, payload, inputs)
            async for ref in stream:
                message = await ref
                if message["kind"] == "outcome":
                    outcome = message
                else:
                    self._forward(incarnation, running, message)
        except LOST as exc:
            await self._lost(worker, running, exc)
            return
        except Exception as exc:  # a failure of ours or of the actor's code: not retried
            log.exception("prompt %s: the run on %s failed", item.prompt_id, worker.name)
            result = failed_outcome(item.prompt_id, "InternalError",
                                    f"the run on worker {worker.name} failed "
                                    f"({type(exc).__name__}); the server log has the details")
            self.hub.post(*result.messages[0], item.client_id)
        finally:
            worker.job = None
            if worker.state == "running":
                worker.state = "idle"
            self.wake()
        if result is None and outcome is None:
            result = failed_outcome(item.prompt_id, "InternalError", f"worker {worker.name} "
                                    "ended the run without saying how it went")
        if result is None:
            self._stored_files(incarnation, outcome["files"])
            worker.info["loads"] = outcome["loads"]
            result = Outcome(outcome["status"],
                             self.files.rewrite_outputs(incarnation, outcome["outputs"]),
                             outcome["messages"], outcome["error"])
        if running.group is not None:
            await self._shard_done(running, result)
        else:
            await self._finish(item.prompt_id, result)

    async def _inputs(self, worker: Remote, needs: Needs) -> dict[str, tuple[str, Any]]:
        """Input images by content hash: the bytes go into Ray's object store once per hash
        and travel only to a worker that lacks that hash under that name (it fetches the
        reference only then); a worker on the head's machine reads the head's folder."""
        if not needs.uploads or worker.info.get("same_node"):
            return {}
        found = await asyncio.to_thread(read_inputs, self.settings, needs.uploads)
        shipped = {}
        for name, data in found.items():
            digest = content_hash(data)
            if digest not in self.input_refs:
                while len(self.input_refs) >= INPUT_REFS_KEPT:  # unpin the oldest
                    self.input_refs.pop(next(iter(self.input_refs)))
                self.input_refs[digest] = ray.put(data)
            shipped[name] = (digest, self.input_refs[digest])
        return shipped

    def _stored_files(self, incarnation: str, files: dict) -> None:
        try:
            self.files.store(incarnation, files)
        except (OSError, ValueError) as exc:
            log.error("files sent back by a worker could not be stored: %s", exc)

    def _forward(self, incarnation: str, running: Running, message: dict) -> None:
        kind, data = message["kind"], message["data"]
        client = running.item.client_id
        if kind == PREVIEW:
            self.hub.post(PREVIEW, data, client)
            return
        if kind == "executed":
            self._stored_files(incarnation, message["files"])
            data = {**data, "output": self.files.rewrite(incarnation, data.get("output"))}
        if running.group is not None and not running.group.admit(kind, data):
            return
        self.hub.post(kind, data, client)

    async def _shard_done(self, running: Running, result: Outcome) -> None:
        group = running.group
        if not group.record(running.shard, result):
            for worker in self.workers:  # a failed shard ends the prompt: stop the others
                if worker.job is not None and worker.job.group is group:
                    worker.actor.interrupt.remote(worker.job.key)
        await self._group_done(group)

    async def _group_done(self, group: fanout.FanOutRun) -> None:
        """Record the fan-out once no shard waits or runs any more."""
        if group.waiting or any(w.job is not None and w.job.group is group
                                for w in self.workers):
            return
        if self.fanouts.pop(group.item.prompt_id, None) is None:
            return  # recorded already
        outcome = group.outcome()
        client = group.item.client_id
        self.hub.post(*outcome.messages[-1], client)
        self.hub.post("executing", {"node": None, "display_node": None,
                                    "prompt_id": group.item.prompt_id}, client)
        await self._finish(group.item.prompt_id, outcome)

    async def _lost(self, worker: Remote, running: Running, exc: BaseException) -> None:
        """The worker's process died or its node left: requeue the run (another worker
        preferred), and wait for Ray to restart the actor."""
        worker.state, worker.job = "restarting", None
        worker.restarts += 1
        worker.holds = []
        self.last_error = f"worker {worker.name} was lost ({type(exc).__name__}); Ray " \
                          "restarts it"
        log.warning("%s while it ran %s", self.last_error, running.key)
        self._spawn(self._await_ready(worker))
        job = running.job
        attempts = job.attempts + 1
        item = running.item
        group = running.group
        if group is not None:
            if attempts >= MAX_ATTEMPTS:
                await self._shard_done(running, failed_outcome(
                    item.prompt_id, "WorkerLost", _lost_reason(attempts)))
            elif group.ending:  # another shard failed, or the prompt was interrupted
                await self._group_done(group)
            else:
                group.waiting[running.shard] = dataclasses.replace(
                    job, attempts=attempts, last_worker=worker.name)
        elif attempts >= MAX_ATTEMPTS:
            await self._fail(item, "WorkerLost", _lost_reason(attempts))
        else:
            try:
                await self.store.call("requeue", item.prompt_id)
            except StoreFailed as exc:  # it stays 'running'; the next start marks it failed
                log.error("prompt %s could not be requeued: %s", item.prompt_id, exc.message)
            await self.broadcast_status()
        self.wake()

    # -- recording --------------------------------------------------------------------------

    async def _fail(self, item: QueueItem, kind: str, reason: str) -> None:
        """End a prompt that cannot run, telling its client as a run's error would."""
        outcome = failed_outcome(item.prompt_id, kind, reason)
        self.hub.post(*outcome.messages[0], item.client_id)
        self.hub.post("executing", {"node": None, "display_node": None,
                                    "prompt_id": item.prompt_id}, item.client_id)
        await self._finish(item.prompt_id, outcome)

    async def _finish(self, prompt_id: str, outcome: Outcome) -> None:
        self._unrecorded.append((prompt_id, outcome))
        try:
            await self._record_unrecorded()
        except StoreFailed as exc:
            log.warning("prompt %s finished but cannot be recorded yet: %s", prompt_id,
                        exc.message)

    async def _record_unrecorded(self, final: bool = False) -> None:
        async with self._recording:  # the dispatcher and every run's task record
            await self._record_queued(final)

    async def _record_queued(self, final: bool) -> None:
        while self._unrecorded:
            prompt_id, outcome = self._unrecorded[0]
            try:
                await self.store.call("finish", prompt_id, outcome)
            except StoreFailed:
                if final:
                    return
                raise
            self._unrecorded.pop(0)
            self.needs.pop(prompt_id, None)
            self.refresh_asked.discard(prompt_id)
            self.since.pop(prompt_id, None)
            await self.broadcast_status()


def _lost_reason(attempts: int) -> str:
    return (f"the worker running this prompt was lost {attempts} times (process killed, node "
            "removed or out of memory); it was not tried again")

