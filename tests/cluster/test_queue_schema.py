"""Schema 3 of the queue: a schema 2 database is migrated; take, requeue and the window."""
import sqlite3

from nodeflow.server.queue_store import SCHEMA_VERSION, QueueItem, QueueStore

V2 = """
CREATE TABLE prompts (seq INTEGER PRIMARY KEY AUTOINCREMENT, prompt_id TEXT NOT NULL UNIQUE,
 number REAL NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done')),
 status TEXT, prompt TEXT NOT NULL, workflow TEXT NOT NULL, extra_data TEXT NOT NULL,
 outputs_to_execute TEXT NOT NULL, client_id TEXT, outputs TEXT, messages TEXT, error TEXT,
 queued_at REAL NOT NULL, started_at REAL, finished_at REAL);
CREATE INDEX prompts_by_state ON prompts (state, number, seq);
CREATE INDEX prompts_done ON prompts (state, finished_at, seq);
PRAGMA user_version=2;
"""


def item(prompt_id: str) -> QueueItem:
    return QueueItem(prompt_id, 0, {"nodeflow": 1, "nodes": {}}, {"nodeflow": 1, "nodes": {}})


def test_a_schema_2_database_keeps_its_rows_and_gains_the_columns(tmp_path):
    path = tmp_path / "queue.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V2)
    db.execute("INSERT INTO prompts (prompt_id, number, state, prompt, workflow, extra_data, "
               "outputs_to_execute, queued_at) VALUES ('old', 1, 'pending', '{}', '{}', '{}', "
               "'[]', 1.0)")
    db.commit()
    db.close()
    store = QueueStore(path)
    columns = {r[1] for r in store._db.execute("PRAGMA table_info(prompts)")}
    assert {"worker", "attempts"} <= columns
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    [pending] = store.pending_window(10)
    assert (pending.item.prompt_id, pending.attempts, pending.last_worker) == ("old", 0, None)
    store.close()
    QueueStore(path).close()  # opening a migrated file again changes nothing


def test_take_requeue_and_attempts(tmp_path):
    store = QueueStore(tmp_path / "queue.sqlite3")
    for name in ("a", "b"):
        store.enqueue(item(name))
    assert store.take("b", "gpu-1")
    assert not store.take("b", "gpu-0")  # already running
    assert [p.item.prompt_id for p in store.pending_window(10)] == ["a"]
    assert store.requeue("b")
    window = store.pending_window(10)
    assert [(p.item.prompt_id, p.attempts, p.last_worker) for p in window] == [
        ("a", 0, None), ("b", 1, "gpu-1")]
    assert store.take("b", "gpu-0")
    from nodeflow.server.queue_store import Outcome

    store.finish("b", Outcome("success"))
    entry = store.history(prompt_id="b")["b"]["nodeflow"]
    assert (entry["worker"], entry["attempts"]) == ("gpu-0", 2)
    assert "worker" not in store.history(prompt_id="a").get("a", {}).get("nodeflow", {})
    store.close()
