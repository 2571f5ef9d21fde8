"""What a storage failure means to the user: the disk is full, the queue database is damaged,
locked by another process or read-only, or a name is too long for the file system.

Each becomes a :class:`Fault` with a sentence that says what to do, and an HTTP status:
507 for a full disk, 503 while the database cannot be used, 400 for a name the file system
refuses. Anything else is not a fault we can explain, and stays an internal error.
"""
from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fault:
    kind: str
    """disk_full, database_locked, database_damaged, database_read_only, storage_error or
    name_too_long."""
    message: str
    status: int


_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def describe(exc: BaseException, db_path: Path | None = None) -> Fault | None:
    """The fault behind ``exc``, or None when it is not a storage problem we can explain."""
    if isinstance(exc, sqlite3.Error):
        return _sqlite_fault(exc, db_path)
    if isinstance(exc, OSError):
        if exc.errno in _DISK_FULL_ERRNOS:
            return disk_full(exc.filename)
        if exc.errno == errno.EROFS:
            return Fault("storage_error", f"cannot write {exc.filename or 'a file'}: the file "
                                          "system is read-only", 503)
        if exc.errno == errno.ENAMETOOLONG:
            return Fault("name_too_long", "a file name is too long for the file system", 400)
    return None


def disk_full(where: object = None) -> Fault:
    place = f" holding {where}" if where else ""
    return Fault("disk_full", f"the disk{place} is full: free some space; queued prompts "
                              "wait and run once there is room", 507)


def recovery_hint(db_path: Path | None) -> str:
    base = f" --base-dir {db_path.parent}" if db_path is not None else ""
    return (f"stop the server and run `nodeflow db-recover{base}`: it keeps every entry that "
            "can still be read and moves the damaged file aside")


def _sqlite_fault(exc: sqlite3.Error, db_path: Path | None) -> Fault:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    where = str(db_path) if db_path is not None else "the queue database"
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "locked" in text:
        return Fault("database_locked", f"{where} is locked by another process; this server "
                                        "retries and carries on when it is released", 503)
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return disk_full(db_path.parent if db_path is not None else None)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text \
            or "not a database" in text:
        return Fault("database_damaged", f"{where} is damaged ({text}); "
                                         + recovery_hint(db_path), 503)
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return Fault("database_read_only", f"{where} cannot be written ({text}); check the "
                                           "file's permissions and the file system", 503)
    if name.startswith("SQLITE_IOERR") or name.startswith("SQLITE_CANTOPEN"):
        return Fault("storage_error", f"{where} cannot be read or written ({text}); check "
                                      "the disk and the file's permissions", 503)
    return Fault("storage_error", f"{where} failed: {text}", 503)


def explain_node_error(message: str) -> str:
    """A node's error message, with a full disk said in words (the engine passes the
    exception's text, "[Errno 28] No space left on device: ...")."""
    if message.startswith((f"[Errno {errno.ENOSPC}]", f"[Errno {errno.EDQUOT}]")):
        return f"the disk is full ({message}); free some space and queue the prompt again"
    return message
