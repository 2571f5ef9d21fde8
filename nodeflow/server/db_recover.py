"""``nodeflow db-recover``: rebuild a damaged queue database from what can still be read.

The damaged file (with its -wal and -shm companions) is moved aside, never deleted, and a
fresh database takes its place holding every row that reads back whole. Rows are read in
small ranges of their key, and a range that fails is read row by row, so one bad page costs
only the rows stored on it.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .queue_store import QueueStore
from .store_checks import COLUMNS, V2_COLUMNS

_CHUNK = 64
_JSON_COLUMNS = ("prompt", "workflow", "extra_data", "outputs_to_execute")
_FALLBACK_MAX_SEQ = 1_000_000


@dataclass
class Recovery:
    kept: int
    lost: int
    moved_to: Path | None

    def summary(self, path: Path) -> str:
        if self.moved_to is None:
            return f"{path} does not exist: nothing to recover"
        lost = f"; at most {self.lost} could not be read" if self.lost else ""
        return (f"kept {self.kept} queue and history entries in a new {path}{lost}; the "
                f"damaged file is now {self.moved_to}")


def recover(path: Path) -> Recovery:
    if not path.exists():
        return Recovery(0, 0, None)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            companion.rename(Path(f"{aside}{suffix}"))
    rows, lost = _readable_rows(aside)
    store = QueueStore(path)
    store.close()
    with sqlite3.connect(str(path)) as fresh:
        for row in rows:
            names = sorted(row)
            fresh.execute(f"INSERT OR IGNORE INTO prompts ({', '.join(names)}) VALUES "
                          f"({', '.join('?' for _ in names)})", [row[n] for n in names])
    fresh.close()
    QueueStore(path).close()  # rows that were running become failed entries, with a reason
    return Recovery(len(rows), lost, aside)


def _readable_rows(path: Path) -> tuple[list[dict], int]:
    """(rows that read back whole, how many could not be read)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        columns = {r[1] for r in db.execute("PRAGMA table_info(prompts)")}
    except sqlite3.Error:
        return [], 0  # not a database at all: nothing is readable
    if not columns >= V2_COLUMNS:
        db.close()
        return [], 0
    names = sorted(COLUMNS & columns)  # a schema 2 file has no worker/attempts yet
    rows: list[dict] = []
    lost = 0
    last = _max_seq(db)
    for start in range(0, last + 1, _CHUNK):
        try:
            rows += [r for r in _read(db, names, start, start + _CHUNK - 1) if _whole(r)]
        except sqlite3.Error:
            for seq in range(start, start + _CHUNK):
                try:
                    rows += [r for r in _read(db, names, seq, seq) if _whole(r)]
                except sqlite3.Error:
                    lost += 1
    db.close()
    return rows, lost


def _read(db: sqlite3.Connection, names: list[str], first: int, last: int) -> list[dict]:
    cursor = db.execute(f"SELECT {', '.join(names)} FROM prompts WHERE seq BETWEEN ? AND ?",
                        (first, last))
    return [dict(zip(names, values)) for values in cursor.fetchall()]


def _max_seq(db: sqlite3.Connection) -> int:
    for query in ("SELECT MAX(seq) FROM prompts",
                  "SELECT seq FROM sqlite_sequence WHERE name = 'prompts'"):
        try:
            row = db.execute(query).fetchone()
        except sqlite3.Error:
            continue
        if row and row[0] is not None:
            return int(row[0])
    return _FALLBACK_MAX_SEQ


def _whole(row: dict) -> bool:
    """A row whose required fields are present and whose JSON parses."""
    if not isinstance(row.get("prompt_id"), str) or row.get("state") not in (
            "pending", "running", "done"):
        return False
    try:
        for name in _JSON_COLUMNS:
            json.loads(row[name])
    except (TypeError, ValueError):
        return False
    return True
