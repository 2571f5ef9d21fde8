"""The queue and the history as ComfyUI's jobs (``/api/jobs``, ComfyUI 0.6 and frontends from
about 1.30 on, which read the queue and the history only through it).

A job is one prompt in any state: ``pending``, ``in_progress``, ``completed``, ``failed`` or
``cancelled`` (interrupted). A list entry is a summary (counts, one preview); the detail adds
the outputs, the status messages and the prompt as it was queued.
"""
from __future__ import annotations

import json
from typing import Any

from .queue_store import history_status, json_number

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
SORT_FIELDS = ("created_at", "execution_duration")
PREVIEWABLE = frozenset({"images", "video", "audio", "3d", "text"})
_STATUS_OF_RESULT = {"success": "completed", "interrupted": "cancelled"}


def job_status(row: dict) -> str:
    if row["state"] == "pending":
        return "pending"
    if row["state"] == "running":
        return "in_progress"
    return _STATUS_OF_RESULT.get(row["status"], "failed")


def summary(row: dict) -> dict[str, Any]:
    """A list entry, from a row of the queue table (QueueStore.job_rows)."""
    extra = _loads(row["extra_data"], {})
    outputs = _loads(row.get("outputs"), {})
    items = list(_output_items(outputs))
    job: dict[str, Any] = {
        "id": row["prompt_id"],
        "status": job_status(row),
        "priority": json_number(row["number"]),
        "create_time": _millis(row["queued_at"]),
        "execution_start_time": _millis(row.get("started_at")),
        "execution_end_time": _millis(row.get("finished_at")),
        "outputs_count": len(items),
        "previewable_outputs_count": sum(1 for kind, _, _ in items if kind in PREVIEWABLE),
        "preview_output": _preview(items),
        "execution_error": _execution_error(_loads(row.get("messages"), [])),
        "workflow_id": _workflow_id(extra),
    }
    return {k: v for k, v in job.items() if v is not None}


def detail(row: dict) -> dict[str, Any]:
    """One job in full: the summary, its outputs, its status messages and what was queued."""
    job = summary(row)
    job["outputs"] = _loads(row.get("outputs"), {})
    job["workflow"] = {"prompt": _loads(row["prompt"], {}),
                       "extra_data": _loads(row["extra_data"], {})}
    if row["state"] == "done":
        job["execution_status"] = history_status(row)
    return job


def _output_items(outputs: Any):
    """(media kind, node id, item) for every output file a prompt made."""
    if not isinstance(outputs, dict):
        return
    for node_id, by_kind in outputs.items():
        if not isinstance(by_kind, dict):
            continue
        for kind, entries in by_kind.items():
            if kind == "animated" or not isinstance(entries, list):
                continue
            for item in entries:
                if isinstance(item, dict):
                    yield kind, str(node_id), item


def _preview(items: list[tuple[str, str, dict]]) -> dict | None:
    """The saved image (type "output") first, else the first previewable file."""
    visual = [(kind, node, item) for kind, node, item in items
              if kind in PREVIEWABLE and kind != "text"]
    chosen = next((entry for entry in visual if entry[2].get("type") == "output"),
                  visual[0] if visual else None)
    if chosen is None:
        return None
    kind, node, item = chosen
    return {**item, "nodeId": node, "mediaType": kind}


def _execution_error(messages: Any) -> dict | None:
    for entry in messages if isinstance(messages, list) else []:
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == "execution_error" \
                and isinstance(entry[1], dict):
            return entry[1]
    return None


def _workflow_id(extra: Any) -> str | None:
    info = extra.get("extra_pnginfo") if isinstance(extra, dict) else None
    workflow = info.get("workflow") if isinstance(info, dict) else None
    value = workflow.get("id") if isinstance(workflow, dict) else None
    return value if isinstance(value, str) else None


def _millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default
