"""Which waiting run goes to which idle worker: capability, then model affinity, then queue
order, and nobody waits for ever.

A pure function over plain records, so it is tested without Ray. Scores per (run, worker),
lower is better: 0 the worker already holds every model the run names; 1 no worker holds
them (whoever loads them steals nothing); 2 another worker holds them (loading here doubles
the work). A retried run prefers any worker but the one it was lost on. Ties go to queue
order. A run whose models another (busy) worker holds waits up to ``hold_s`` for that
worker before an idle one loads them too. A run passed over ``max_skips`` times is placed
first, on its best idle worker.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .capabilities import Capabilities, ModelRef, Needs, missing


@dataclass
class Job:
    key: str
    """The prompt id (a fan-out shard: ``prompt_id#index``)."""
    order: int
    """Queue position: lower runs first (shards of a started fan-out come before the queue)."""
    needs: Needs
    attempts: int = 0
    last_worker: str | None = None
    skipped: int = 0
    since: float = 0.0
    """When the scheduler first saw it waiting (time.monotonic())."""


@dataclass
class WorkerView:
    name: str
    caps: Capabilities
    holds: set[ModelRef] = field(default_factory=set)


def score(job: Job, worker: WorkerView, others: list[WorkerView]) -> int:
    models = job.needs.models
    base = 1
    if models and models <= worker.holds:
        base = 0
    elif any(models & w.holds for w in others if w is not worker):
        base = 2
    if job.attempts and worker.name == job.last_worker:
        base += 3  # another worker preferred for a run that was lost
    return base


def assign(jobs: list[Job], idle: list[WorkerView], everyone: list[WorkerView],
           head: Capabilities, max_skips: int = 4, *, now: float = 0.0,
           hold_s: float = 0.0) -> list[tuple[Job, WorkerView]]:
    """Pairs to start now. ``everyone``: every worker that is up (busy ones hold models too).
    Updates ``skipped`` on the runs passed over."""
    free = list(idle)
    waiting = sorted(jobs, key=lambda j: j.order)
    capable = {(j.key, w.name): not missing(j.needs, w.caps, head) for j in waiting for w in free}
    plan: list[tuple[Job, WorkerView]] = []
    while free and waiting:
        starved = next((j for j in waiting if j.skipped >= max_skips
                        and any(capable[j.key, w.name] for w in free)), None)
        candidates = [(score(j, w, everyone), j.order, i, j, w)
                      for j in ([starved] if starved else waiting)
                      for i, w in enumerate(free) if capable[j.key, w.name]]
        if not starved:  # let a run wait a little for the busy worker that holds its models
            candidates = [c for c in candidates if c[0] % 3 < 2 or now - c[3].since >= hold_s]
        if not candidates:
            break
        _, _, _, job, worker = min(candidates, key=lambda c: c[:3])
        plan.append((job, worker))
        for passed in waiting:
            if passed.order < job.order and capable[passed.key, worker.name]:
                passed.skipped += 1
        waiting.remove(job)
        free.remove(worker)
        worker.holds = worker.holds | job.needs.models
    return plan


def unrunnable(job: Job, everyone: list[WorkerView], head: Capabilities) -> list[str] | None:
    """Why no worker (busy, idle or starting again) can run ``job``; None if one can."""
    reasons: list[str] = []
    for worker in everyone:
        why = missing(job.needs, worker.caps, head)
        if not why:
            return None
        reasons.append(f"{worker.name}: {'; '.join(why)}")
    return reasons if everyone else None
