"""The queue and the history in one SQLite table under the base folder.

A prompt row goes pending -> running -> done. Opening the store turns rows left ``running``
by a process that died into failed history entries with a reason, so nothing queued is ever
silently dropped. Opening also refuses a file that is not a usable queue (damaged, emptied,
someone else's schema, unwritable) with :class:`StoreUnusable`, whose message names the
recovery command, instead of starting with a database that fails later.

Every statement is quick and indexed (the cost of finishing a prompt does not grow with the
history), but it is still disk I/O that may wait for another process's lock: the server uses
the store from one thread of its own (:mod:`store_thread`), never from the event loop.
"""
from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .faults import describe, recovery_hint
from .store_checks import StoreUnusable, check_usable
from .json_safe import dumps

log = logging.getLogger("nodeflow.server")

SCHEMA_VERSION = 3  # 2: the prompts_done index; 3: the worker and attempts columns
STOPPED_REASON = "the server stopped while this prompt was running"
UNREADABLE_REASON = "this prompt could not be read back from the queue database"
MAX_NUMBER = 2**53
"""Queue numbers are exact integers in JSON (a double) and in SQLite's REAL column."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    number REAL NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done')),
    status TEXT,
    prompt TEXT NOT NULL,
    workflow TEXT NOT NULL,
    extra_data TEXT NOT NULL,
    outputs_to_execute TEXT NOT NULL,
    client_id TEXT,
    outputs TEXT,
    messages TEXT,
    error TEXT,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS prompts_by_state ON prompts (state, number, seq);
CREATE INDEX IF NOT EXISTS prompts_done ON prompts (state, finished_at, seq);
"""


class DuplicatePromptId(Exception):
    pass


@dataclass
class QueueItem:
    prompt_id: str
    number: float
    prompt: Any
    """What the client sent (a nodeflow workflow or a ComfyUI API-format prompt)."""
    workflow: dict
    """The nodeflow workflow that runs."""
    extra_data: dict = field(default_factory=dict)
    outputs_to_execute: list[str] = field(default_factory=list)
    client_id: str | None = None

    def comfy_entry(self) -> list:
        """ComfyUI's queue tuple: [number, prompt_id, prompt, extra_data, outputs]."""
        return [json_number(self.number), self.prompt_id, self.prompt, self.extra_data,
                self.outputs_to_execute]


@dataclass
class Pending:
    item: QueueItem
    attempts: int
    """How many times it was taken before (a requeued prompt has at least one)."""
    last_worker: str | None


@dataclass
class Outcome:
    status: str  # "success", "error" or "interrupted"
    outputs: dict[str, Any] = field(default_factory=dict)
    messages: list[list[Any]] = field(default_factory=list)
    """ComfyUI's status messages: [[event name, payload], ...]."""
    error: dict[str, Any] | None = None


class QueueStore:
    def __init__(self, path: Path, history_limit: int = 10_000, busy_timeout_s: float = 5.0):
        """Raises :class:`StoreUnusable` for a file that cannot serve as the queue."""
        self.path = path
        self.history_limit = history_limit
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_file() and path.stat().st_size == 0:
                raise StoreUnusable(f"the queue database {path} is empty (0 bytes): the "
                                    "queue and history it held are gone; "
                                    + recovery_hint(path) + " (a new one is started)")
            self._db = sqlite3.connect(str(path), isolation_level=None,
                                       check_same_thread=False, timeout=busy_timeout_s)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnusable(self._explain(exc)) from None
        try:
            self._open()
        except (sqlite3.Error, OSError) as exc:
            self._db.close()
            raise StoreUnusable(self._explain(exc)) from None
        except StoreUnusable:
            self._db.close()
            raise

    def _open(self) -> None:
        self._db.row_factory = sqlite3.Row
        check_usable(self._db, self.path, SCHEMA_VERSION)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._done = self._count_done()
        self.recovered = self._fail_stale_running()

    def _migrate(self) -> None:
        """Schema 2 -> 3: the two columns the cluster's take/requeue need (a table created
        by an older version keeps its rows; every one of them has had no attempts counted)."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(prompts)")}
        if "worker" not in columns:
            self._db.execute("ALTER TABLE prompts ADD COLUMN worker TEXT")
        if "attempts" not in columns:
            self._db.execute("ALTER TABLE prompts ADD COLUMN attempts INTEGER NOT NULL "
                             "DEFAULT 0")

    def _explain(self, exc: BaseException) -> str:
        fault = describe(exc, self.path)
        return fault.message if fault else f"cannot open the queue database {self.path}: {exc}"

    def close(self) -> None:
        self._db.close()


    # -- the queue ---------------------------------------------------------------------------

    def next_number(self) -> float:
        """One more than the largest number in use (numbers a damaged or older database may
        hold beyond MAX_NUMBER are ignored)."""
        row = self._db.execute("SELECT MAX(number) FROM prompts WHERE number < ? AND "
                               "number > ?", (MAX_NUMBER, -MAX_NUMBER)).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def enqueue(self, item: QueueItem, *, number: float | None = None,
                front: bool = False) -> float:
        """Add ``item`` under ``number`` (or the next one, or in front): the check for a
        duplicate id, the numbering and the insert happen together. Returns the number."""
        if self.exists(item.prompt_id):
            raise DuplicatePromptId(item.prompt_id)
        if number is None:
            number = self.next_number()
            number = -number if front else number
        item.number = number
        self.add(item)
        return number

    def add(self, item: QueueItem) -> None:
        self._db.execute(
            "INSERT INTO prompts (prompt_id, number, state, prompt, workflow, extra_data, "
            "outputs_to_execute, client_id, queued_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
            (item.prompt_id, item.number, dumps(item.prompt), dumps(item.workflow),
             dumps(item.extra_data), dumps(item.outputs_to_execute), item.client_id,
             time.time()))

    def exists(self, prompt_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM prompts WHERE prompt_id = ?",
                                (prompt_id,)).fetchone() is not None

    def take_next(self) -> QueueItem | None:
        """The first pending prompt (lowest number, then oldest), now marked running. A row
        that cannot be read back becomes a failed entry, and the next one is taken."""
        while True:
            row = self._db.execute("SELECT * FROM prompts WHERE state = 'pending' "
                                   "ORDER BY number, seq LIMIT 1").fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE prompts SET state = 'running', started_at = ?, "
                             "attempts = attempts + 1 WHERE seq = ?", (time.time(), row["seq"]))
            try:
                return _item(row)
            except (ValueError, TypeError) as exc:
                log.error("prompt %s cannot be read back (%s); marked failed",
                          row["prompt_id"], exc)
                self.finish(row["prompt_id"], failed_outcome(
                    row["prompt_id"], "UnreadablePrompt", UNREADABLE_REASON))

    def pending_window(self, limit: int) -> list[Pending]:
        """The first ``limit`` pending prompts in queue order, with their attempts and the
        worker that last took them (the cluster's scheduler chooses among these)."""
        window = []
        for row in self._db.execute("SELECT * FROM prompts WHERE state = 'pending' "
                                    "ORDER BY number, seq LIMIT ?", (limit,)).fetchall():
            try:
                window.append(Pending(_item(row), row["attempts"], row["worker"]))
            except (ValueError, TypeError) as exc:
                log.error("prompt %s cannot be read back (%s); marked failed",
                          row["prompt_id"], exc)
                self.finish(row["prompt_id"], failed_outcome(
                    row["prompt_id"], "UnreadablePrompt", UNREADABLE_REASON))
        return window

    def take(self, prompt_id: str, worker: str) -> bool:
        """Mark one pending prompt running on ``worker`` (one more attempt). False when it is
        no longer pending (deleted, or taken meanwhile)."""
        cur = self._db.execute(
            "UPDATE prompts SET state = 'running', started_at = ?, worker = ?, "
            "attempts = attempts + 1 WHERE prompt_id = ? AND state = 'pending'",
            (time.time(), worker, prompt_id))
        return cur.rowcount == 1

    def requeue(self, prompt_id: str) -> bool:
        """A running prompt whose worker was lost goes back to its place in the queue
        (its number is kept, so it runs before what was queued after it)."""
        cur = self._db.execute("UPDATE prompts SET state = 'pending', started_at = NULL "
                               "WHERE prompt_id = ? AND state = 'running'", (prompt_id,))
        return cur.rowcount == 1

    def finish(self, prompt_id: str, outcome: Outcome) -> None:
        cur = self._db.execute(
            "UPDATE prompts SET state = 'done', status = ?, outputs = ?, messages = ?, "
            "error = ?, finished_at = ? WHERE prompt_id = ? AND state != 'done'",
            (outcome.status, dumps(outcome.outputs), dumps(outcome.messages),
             dumps(outcome.error) if outcome.error else None, time.time(), prompt_id))
        self._done += cur.rowcount
        self._trim_history()

    def running(self) -> list[QueueItem]:
        return [_item(r) for r in self._db.execute(
            "SELECT * FROM prompts WHERE state = 'running' ORDER BY seq")]

    def pending(self) -> list[QueueItem]:
        return [_item(r) for r in self._db.execute(
            "SELECT * FROM prompts WHERE state = 'pending' ORDER BY number, seq")]

    def remaining(self) -> int:
        """Pending and running prompts (ComfyUI's queue_remaining)."""
        return self._db.execute("SELECT COUNT(*) FROM prompts WHERE state IN "
                                "('pending', 'running')").fetchone()[0]

    def delete_pending(self, prompt_ids: list[str]) -> int:
        cur = self._db.executemany("DELETE FROM prompts WHERE state = 'pending' AND "
                                   "prompt_id = ?", [(p,) for p in prompt_ids])
        return cur.rowcount

    def clear_pending(self) -> int:
        return self._db.execute("DELETE FROM prompts WHERE state = 'pending'").rowcount

    # -- jobs: the queue and the history as one list (ComfyUI's /api/jobs) -----------------

    _JOB_STATES = {"pending": "state = 'pending'", "in_progress": "state = 'running'",
                   "completed": "(state = 'done' AND status = 'success')",
                   "cancelled": "(state = 'done' AND status = 'interrupted')",
                   "failed": "(state = 'done' AND status NOT IN ('success', 'interrupted'))"}
    _JOB_ORDER = {"created_at": "queued_at",
                  "execution_duration": "COALESCE(finished_at - started_at, 0)"}

    def job_rows(self, statuses: list[str], *, sort_by: str = "created_at",
                 descending: bool = True, limit: int | None = None, offset: int = 0,
                 workflow_id: str | None = None, prompt_id: str | None = None
                 ) -> tuple[list[dict], int]:
        """(rows as dicts, how many match) of the prompts in the given job statuses (the
        keys of ``_JOB_STATES``), newest first by default; one indexed query per page."""
        where = ["(" + " OR ".join(self._JOB_STATES[s] for s in statuses) + ")"]
        args: list[Any] = []
        if workflow_id is not None:
            where.append("json_extract(extra_data, '$.extra_pnginfo.workflow.id') = ?")
            args.append(workflow_id)
        if prompt_id is not None:
            where.append("prompt_id = ?")
            args.append(prompt_id)
        condition = " AND ".join(where)
        total = self._db.execute(f"SELECT COUNT(*) FROM prompts WHERE {condition}",
                                 args).fetchone()[0]
        direction = "DESC" if descending else "ASC"
        order = f"{self._JOB_ORDER[sort_by]} {direction}, seq {direction}"
        rows = self._db.execute(f"SELECT * FROM prompts WHERE {condition} ORDER BY {order} "
                                "LIMIT ? OFFSET ?", [*args, -1 if limit is None else limit,
                                                     offset]).fetchall()
        return [dict(row) for row in rows], total

    # -- the history -------------------------------------------------------------------------

    def history(self, *, max_items: int | None = None, offset: int | None = None,
                prompt_id: str | None = None) -> dict[str, dict]:
        """ComfyUI's history: {prompt_id: {prompt, outputs, status, meta}}, oldest first.

        As in ComfyUI, ``max_items`` without ``offset`` gives the newest entries; ``offset``
        counts from the oldest."""
        if prompt_id is not None:
            rows = self._db.execute("SELECT * FROM prompts WHERE state = 'done' AND "
                                    "prompt_id = ?", (prompt_id,)).fetchall()
            return {row["prompt_id"]: _history_entry(row) for row in rows}
        limit = -1 if max_items is None else max_items
        if offset is None:
            offset = 0 if max_items is None else max(self._done - max_items, 0)
        rows = self._db.execute("SELECT * FROM prompts WHERE state = 'done' "
                                "ORDER BY finished_at, seq LIMIT ? OFFSET ?",
                                (limit, offset)).fetchall()
        return {row["prompt_id"]: _history_entry(row) for row in rows}

    def delete_history(self, prompt_ids: list[str]) -> None:
        cur = self._db.executemany("DELETE FROM prompts WHERE state = 'done' AND "
                                   "prompt_id = ?", [(p,) for p in prompt_ids])
        self._done -= max(cur.rowcount, 0)

    def clear_history(self) -> None:
        self._db.execute("DELETE FROM prompts WHERE state = 'done'")
        self._done = 0

    def _count_done(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM prompts WHERE state = 'done'"
                                ).fetchone()[0]

    def _trim_history(self) -> None:
        """Drop the oldest entries beyond the limit: an indexed delete of just those rows, so
        finishing a prompt costs the same with 10 or 10,000 entries."""
        excess = self._done - self.history_limit
        if excess <= 0:
            return
        cur = self._db.execute(
            "DELETE FROM prompts WHERE seq IN (SELECT seq FROM prompts WHERE state = 'done' "
            "ORDER BY finished_at, seq LIMIT ?)", (excess,))
        self._done -= cur.rowcount

    def _fail_stale_running(self) -> list[str]:
        """Rows a dead process left running become failed history entries with a reason."""
        stale = [r["prompt_id"] for r in self._db.execute(
            "SELECT prompt_id FROM prompts WHERE state = 'running'")]
        for prompt_id in stale:
            self.finish(prompt_id, failed_outcome(prompt_id, "ServerStopped", STOPPED_REASON))
        return stale


def failed_outcome(prompt_id: str, kind: str, reason: str, node: str | None = None,
                   node_type: str | None = None) -> Outcome:
    """A prompt that ended without running to completion, in ComfyUI's message shape."""
    message = ["execution_error", {
        "prompt_id": prompt_id, "node_id": node, "node_type": node_type, "executed": [],
        "exception_message": reason, "exception_type": kind, "traceback": [],
        "current_inputs": {}, "current_outputs": {}, "timestamp": int(time.time() * 1000)}]
    return Outcome("error", messages=[message], error={"type": kind, "message": reason})


def _item(row: sqlite3.Row) -> QueueItem:
    return QueueItem(prompt_id=row["prompt_id"], number=row["number"],
                     prompt=json.loads(row["prompt"]), workflow=json.loads(row["workflow"]),
                     extra_data=json.loads(row["extra_data"]),
                     outputs_to_execute=json.loads(row["outputs_to_execute"]),
                     client_id=row["client_id"])


def history_status(row: sqlite3.Row | dict) -> dict:
    """ComfyUI's status of a finished prompt: status_str, completed, messages."""
    return {"status_str": "success" if row["status"] == "success" else "error",
            "completed": row["status"] == "success",
            "messages": json.loads(row["messages"] or "[]")}


def _history_entry(row: sqlite3.Row) -> dict:
    item = _item(row)
    outputs = json.loads(row["outputs"] or "{}")
    status = row["status"]
    return {
        "prompt": item.comfy_entry(),
        "outputs": outputs,
        "status": history_status(row),
        "meta": {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n}
                 for n in outputs},
        "nodeflow": {"status": status, "error": json.loads(row["error"]) if row["error"]
                     else None, "queued_at": row["queued_at"], "started_at": row["started_at"],
                     "finished_at": row["finished_at"],
                     **({"worker": row["worker"], "attempts": row["attempts"]}
                        if row["worker"] else {})},
    }


def json_number(value: float) -> float | int | None:
    """A queue number for JSON (None for a non-finite one an older version let in)."""
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else value
