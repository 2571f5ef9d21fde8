"""The queue and the history in one SQLite table under the base folder.

A prompt row goes pending -> running -> done. Opening the store turns rows left ``running``
by a process that died into failed history entries with a reason, so nothing queued is ever
silently dropped. All methods are quick single statements; use the store from one thread
(the server's event loop).
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
STOPPED_REASON = "the server stopped while this prompt was running"

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
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS prompts_by_state ON prompts (state, number, seq);
"""


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
        return [_number(self.number), self.prompt_id, self.prompt, self.extra_data,
                self.outputs_to_execute]


@dataclass
class Outcome:
    status: str  # "success", "error" or "interrupted"
    outputs: dict[str, Any] = field(default_factory=dict)
    messages: list[list[Any]] = field(default_factory=list)
    """ComfyUI's status messages: [[event name, payload], ...]."""
    error: dict[str, Any] | None = None


class QueueStore:
    def __init__(self, path: Path, history_limit: int = 10_000):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.history_limit = history_limit
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self.recovered = self._fail_stale_running()

    def close(self) -> None:
        self._db.close()

    # -- the queue ---------------------------------------------------------------------------

    def next_number(self) -> float:
        row = self._db.execute("SELECT MAX(number) FROM prompts").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def add(self, item: QueueItem) -> None:
        self._db.execute(
            "INSERT INTO prompts (prompt_id, number, state, prompt, workflow, extra_data, "
            "outputs_to_execute, client_id, queued_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
            (item.prompt_id, item.number, json.dumps(item.prompt), json.dumps(item.workflow),
             json.dumps(item.extra_data), json.dumps(item.outputs_to_execute), item.client_id,
             time.time()))

    def exists(self, prompt_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM prompts WHERE prompt_id = ?",
                                (prompt_id,)).fetchone() is not None

    def take_next(self) -> QueueItem | None:
        """The first pending prompt (lowest number, then oldest), now marked running."""
        row = self._db.execute("SELECT * FROM prompts WHERE state = 'pending' "
                               "ORDER BY number, seq LIMIT 1").fetchone()
        if row is None:
            return None
        self._db.execute("UPDATE prompts SET state = 'running', started_at = ? WHERE seq = ?",
                         (time.time(), row["seq"]))
        return _item(row)

    def finish(self, prompt_id: str, outcome: Outcome) -> None:
        self._db.execute(
            "UPDATE prompts SET state = 'done', status = ?, outputs = ?, messages = ?, "
            "error = ?, finished_at = ? WHERE prompt_id = ?",
            (outcome.status, json.dumps(outcome.outputs, default=str),
             json.dumps(outcome.messages, default=str),
             json.dumps(outcome.error) if outcome.error else None, time.time(), prompt_id))
        self._trim_history()

    def running(self) -> list[QueueItem]:
        return [_item(r) for r in self._db.execute(
            "SELECT * FROM prompts WHERE state = 'running' ORDER BY seq")]

    def pending(self) -> list[QueueItem]:
        return [_item(r) for r in self._db.execute(
            "SELECT * FROM prompts WHERE state = 'pending' ORDER BY number, seq")]

    def remaining(self) -> int:
        """Pending and running prompts (ComfyUI's queue_remaining)."""
        return self._db.execute("SELECT COUNT(*) FROM prompts WHERE state != 'done'"
                                ).fetchone()[0]

    def delete_pending(self, prompt_ids: list[str]) -> int:
        cur = self._db.executemany("DELETE FROM prompts WHERE state = 'pending' AND "
                                   "prompt_id = ?", [(p,) for p in prompt_ids])
        return cur.rowcount

    def clear_pending(self) -> int:
        return self._db.execute("DELETE FROM prompts WHERE state = 'pending'").rowcount

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
            total = self._db.execute("SELECT COUNT(*) FROM prompts WHERE state = 'done'"
                                     ).fetchone()[0]
            offset = 0 if max_items is None else max(total - max_items, 0)
        rows = self._db.execute("SELECT * FROM prompts WHERE state = 'done' "
                                "ORDER BY finished_at, seq LIMIT ? OFFSET ?",
                                (limit, offset)).fetchall()
        return {row["prompt_id"]: _history_entry(row) for row in rows}

    def delete_history(self, prompt_ids: list[str]) -> None:
        self._db.executemany("DELETE FROM prompts WHERE state = 'done' AND prompt_id = ?",
                             [(p,) for p in prompt_ids])

    def clear_history(self) -> None:
        self._db.execute("DELETE FROM prompts WHERE state = 'done'")

    def _trim_history(self) -> None:
        self._db.execute(
            "DELETE FROM prompts WHERE state = 'done' AND seq NOT IN (SELECT seq FROM prompts "
            "WHERE state = 'done' ORDER BY finished_at DESC, seq DESC LIMIT ?)",
            (self.history_limit,))

    def _fail_stale_running(self) -> list[str]:
        """Rows a dead process left running become failed history entries with a reason."""
        stale = [r["prompt_id"] for r in self._db.execute(
            "SELECT prompt_id FROM prompts WHERE state = 'running'")]
        for prompt_id in stale:
            error = {"type": "ServerStopped", "message": STOPPED_REASON}
            message = ["execution_error", {
                "prompt_id": prompt_id, "node_id": None, "node_type": None, "executed": [],
                "exception_message": STOPPED_REASON, "exception_type": "ServerStopped",
                "traceback": [], "current_inputs": {}, "current_outputs": {},
                "timestamp": int(time.time() * 1000)}]
            self.finish(prompt_id, Outcome("error", messages=[message], error=error))
        return stale


def _item(row: sqlite3.Row) -> QueueItem:
    return QueueItem(prompt_id=row["prompt_id"], number=row["number"],
                     prompt=json.loads(row["prompt"]), workflow=json.loads(row["workflow"]),
                     extra_data=json.loads(row["extra_data"]),
                     outputs_to_execute=json.loads(row["outputs_to_execute"]),
                     client_id=row["client_id"])


def _history_entry(row: sqlite3.Row) -> dict:
    item = _item(row)
    outputs = json.loads(row["outputs"] or "{}")
    status = row["status"]
    return {
        "prompt": item.comfy_entry(),
        "outputs": outputs,
        "status": {"status_str": "success" if status == "success" else "error",
                   "completed": status == "success",
                   "messages": json.loads(row["messages"] or "[]")},
        "meta": {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n}
                 for n in outputs},
        "nodeflow": {"status": status, "error": json.loads(row["error"]) if row["error"]
                     else None, "queued_at": row["queued_at"], "started_at": row["started_at"],
                     "finished_at": row["finished_at"]},
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
