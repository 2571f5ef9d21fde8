"""ComfyUI's jobs API: the queue and the history as one filtered, sorted, paged list, one
job's details, and cancelling a job whatever its state (jobs.py has the job's shape)."""
from __future__ import annotations

from aiohttp import web

from . import jobs
from .bodies import read_json_object
from .errors import ApiError
from .routes_queue import json_response
from .routing import Param, RouteTable
from .state import STORE, WORKER

routes = RouteTable("jobs")


@routes.get("/jobs", "Prompts in any state as jobs, newest first",
            query=(Param("status", "comma-separated: " + ", ".join(jobs.STATUSES)),
                   Param("workflow_id", "only the jobs of this editor workflow id"),
                   Param("sort_by", "created_at (default) or execution_duration"),
                   Param("sort_order", "desc (default) or asc"),
                   Param("limit", "at most this many (a positive number)", type="integer"),
                   Param("offset", "skip this many (default 0)", type="integer")),
            responses={200: ('{"jobs": [...], "pagination": {offset, limit, total, '
                             'has_more}}', None), 400: ("A bad filter or page", "Error")})
async def list_jobs(request: web.Request) -> web.Response:
    query = request.query
    statuses = list(jobs.STATUSES)
    if query.get("status"):
        statuses = [s.strip().lower() for s in query["status"].split(",") if s.strip()]
        unknown = [s for s in statuses if s not in jobs.STATUSES]
        if unknown:
            raise ApiError(400, f"unknown status {', '.join(unknown)} (known: "
                                f"{', '.join(jobs.STATUSES)})")
    sort_by = query.get("sort_by", "created_at").lower()
    if sort_by not in jobs.SORT_FIELDS:
        raise ApiError(400, "sort_by must be created_at or execution_duration")
    sort_order = query.get("sort_order", "desc").lower()
    if sort_order not in ("asc", "desc"):
        raise ApiError(400, "sort_order must be asc or desc")
    limit = _whole(query, "limit", low=1)
    offset = _whole(query, "offset", low=0) or 0
    rows, total = await request.app[STORE].call(
        "job_rows", statuses, sort_by=sort_by, descending=sort_order == "desc", limit=limit,
        offset=offset, workflow_id=query.get("workflow_id") or None)
    return json_response({"jobs": [jobs.summary(r) for r in rows],
                          "pagination": {"offset": offset, "limit": limit, "total": total,
                                         "has_more": offset + len(rows) < total}})


@routes.get("/jobs/{job_id}", "One job with its outputs, status messages and prompt",
            responses={200: ("The job", None), 404: ("No such job", "Error")})
async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    rows, _ = await request.app[STORE].call("job_rows", list(jobs.STATUSES), prompt_id=job_id)
    if not rows:
        raise ApiError(404, f"no job {job_id!r}", "not_found")
    return json_response(jobs.detail(rows[0]))


@routes.post("/jobs/{job_id}/cancel", "Cancel a job: interrupt it when it runs, take it off "
             "the queue when it waits; a finished or unknown job is left as it is",
             responses={200: ('{"cancelled": bool}', None)})
async def cancel_job(request: web.Request) -> web.Response:
    return web.json_response({"cancelled": await _cancel(request.app,
                                                         request.match_info["job_id"])})


@routes.post("/jobs/cancel", "Cancel several jobs ({\"job_ids\": [...]})",
             responses={200: ('{"cancelled": bool}: whether any was', None),
                        400: ("job_ids is not a list of ids", "Error")})
async def cancel_jobs(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    ids = body.get("job_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, "job_ids must be a list of job ids")
    cancelled = False
    for job_id in ids:
        cancelled = await _cancel(request.app, job_id) or cancelled
    return web.json_response({"cancelled": cancelled})


async def _cancel(app: web.Application, job_id: str) -> bool:
    if await app[STORE].call("delete_pending", [job_id]):
        await app[WORKER].broadcast_status()
        return True
    # not waiting (any more): it may be the one running, which it interrupts only if so
    return app[WORKER].interrupt(job_id)


def _whole(query, name: str, *, low: int) -> int | None:
    if not query.get(name):
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number") from None
    if value < low:
        raise ApiError(400, f"{name} must be at least {low}")
    return value
