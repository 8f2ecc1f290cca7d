"""Replication routes: ``POST /_replicate``, ``GET /_active_tasks``, ``GET /_scheduler/jobs`` and
``GET /_scheduler/docs``; the jobs themselves live in ``scheduler.Scheduler``."""

from ..errors import NotFound
from .messages import JSONResponse


async def replicate(req):
    body = await req.json(require_content_type=True)
    status, answer = await req.app.scheduler.replicate(body, req.user)
    return JSONResponse(answer, status=status)


async def active_tasks(req):
    return JSONResponse([job.active_task() for job in req.app.scheduler.all_jobs() if not job.done])


async def scheduler_jobs(req):
    jobs = [job.scheduler_job() for job in req.app.scheduler.all_jobs() if not job.done]
    return JSONResponse({"total_rows": len(jobs), "offset": 0, "jobs": jobs})


async def scheduler_docs(req):
    docs = req.app.scheduler.scheduler_docs()
    return JSONResponse({"total_rows": len(docs), "offset": 0, "docs": docs})


async def scheduler_doc(req):
    for row in req.app.scheduler.scheduler_docs():
        if row["doc_id"] == req.params["doc"]:
            return JSONResponse(row)
    raise NotFound("unknown replication document")
