"""Whether a file can serve as the queue database, asked before anything is written to it:
a damaged page, someone else's tables or a newer schema are refused with a sentence that says
what to do, instead of a server that starts and then fails every request. And whether a write
could start right now, for the readiness check.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .faults import recovery_hint

V2_COLUMNS = frozenset({"seq", "prompt_id", "number", "state", "status", "prompt", "workflow",
                        "extra_data", "outputs_to_execute", "client_id", "outputs", "messages",
                        "error", "queued_at", "started_at", "finished_at"})
"""The columns of schema 2 and older (migrated when opened)."""
COLUMNS = V2_COLUMNS | {"worker", "attempts"}
"""Schema 3: which worker took a prompt last and how many times it was taken (the cluster
requeues a prompt whose worker was lost)."""


class StoreUnusable(Exception):
    """The queue database cannot be used as it is; the message says why and what to do."""


def check_usable(db: sqlite3.Connection, path: Path, schema_version: int) -> None:
    """Raise :class:`StoreUnusable` unless ``db`` is intact and empty or a nodeflow queue of
    ``schema_version`` or older."""
    problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise StoreUnusable(f"the queue database {path} is damaged ("
                            f"{'; '.join(problems)[:300]}); {recovery_hint(path)}")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > schema_version:
        raise StoreUnusable(f"the queue database {path} was written by a newer nodeflow "
                            f"(schema {version}; this one knows {schema_version})")
    tables = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    if not tables:
        return
    columns = {r[1] for r in db.execute("PRAGMA table_info(prompts)")}
    if columns not in (COLUMNS, V2_COLUMNS):
        raise StoreUnusable(f"{path} is not a nodeflow queue database (its tables are "
                            f"{', '.join(sorted(tables))[:200]}); move it aside or run "
                            "`nodeflow db-recover`")


def probe_write(path: Path) -> None:
    """Raise (sqlite3.Error) unless a write to ``path`` could start now: a connection of its
    own that does not wait for another process's lock, nor queue behind the store's calls."""
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    finally:
        db.close()
