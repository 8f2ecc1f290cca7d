"""The server's replication jobs: transient ones from ``POST /_replicate`` and persistent ones from the
documents of the ``_replicator`` database, as CouchDB 3.x's ``couch_replicator`` scheduler.

Theory of operation: one watcher task follows the ``_changes`` of ``_replicator`` from sequence 0, so
after a restart every document is seen again and its job resumes from its checkpoints. A document is a
job unless it is deleted, a design document, or already in a terminal state (``_replication_state``
``completed`` or ``failed``, which the scheduler writes into the document when the job ends, with
``_replication_state_time`` and ``_replication_stats`` or ``_replication_state_reason``). Editing a
document's replication fields restarts its job; deleting it cancels the job. Running states are visible
in ``_scheduler/docs`` and ``_active_tasks``, not written to the document (CouchDB 2.1+ does the same).

Every job runs as a user (CouchDB's ``user_ctx``): the one who asked for a transient job, and for a
document the ``user_ctx`` its writer left in it (``replicator_docs``). Its local databases are used with
that user's rights (``local_access``); remote ones with the credentials of their URL.

Nothing here blocks or starts threads: jobs and the watcher are asyncio tasks on the serving loop,
started by the first request (or the ASGI lifespan), so the same code runs in the browser.
"""

import asyncio
import time

from ..errors import BadRequest, Conflict, CouchError, NotFound, ReplicationCancelled
from ..http import tcp_client
from ..replicator import Replication, ReplicationOptions, open_endpoint
from . import auth, replicator_docs, system_dbs

REPLICATOR_DB = replicator_docs.REPLICATOR_DB
TERMINAL = ("completed", "failed")
# The document members that describe a replication: a change to any of them restarts its job.
SPEC_FIELDS = ("source", "target", "continuous", "create_target", "doc_ids", "selector", "filter",
               "query_params", "since_seq", "worker_batch_size", "worker_processes", "user_ctx")
# How long the watcher waits on _replicator before looking again (it is woken by any write anyway).
WATCH_TIMEOUT = 60.0
# Times a terminal state is retried when the document changed under the scheduler (409).
STATE_WRITE_ATTEMPTS = 5


def _iso(timestamp):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def local_access(user):
    """What a job of ``user`` (a ``UserCtx``) may do with local databases (``LocalEndpoint``'s
    ``access``): what ``user``'s own requests may. Creating a database takes a server admin, and so does
    any use of ``_users`` and ``_replicator``, which only server admins may list."""

    def access(couch, db_name, action):
        if action == "create" or db_name in system_dbs.SYSTEM_DBS:
            auth.check_server_admin(user)
        if action == "create":
            return
        security = couch.get_db(db_name).security
        if action == "design":
            auth.check_db_admin(user, security)
        else:
            auth.check_db_reader(user, security)

    return access


class Scheduler:
    """Replication jobs of a server over ``couch``; ``client`` is the ``HttpClient`` for remote peers
    (the native asyncio one unless given: the browser passes its ``fetch()`` client)."""

    def __init__(self, couch, client=None):
        self.couch = couch
        self._client = client
        self.transient = {}
        self.documents = {}
        self._watcher = None
        self._db_created = None

    @property
    def client(self):
        if self._client is None:
            self._client = tcp_client()
        return self._client

    def ensure_started(self):
        """Start the ``_replicator`` watcher on the running loop, once."""
        if self._watcher is None:
            self._db_created = asyncio.Event()
            self._watcher = asyncio.ensure_future(self._watch())

    def database_created(self, name):
        if name == REPLICATOR_DB and self._db_created is not None:
            self._db_created.set()

    async def stop(self):
        jobs = [*self.transient.values(), *(job for _, job in self.documents.values())]
        tasks = [self._watcher] if self._watcher else []
        for job in jobs:
            job.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    def all_jobs(self):
        return [*self.transient.values(), *(job for _, job in self.documents.values())]

    # -- POST /_replicate --------------------------------------------------------------------------

    def _job(self, spec, user, **labels):
        """A job for ``spec`` run as ``user`` (a ``UserCtx``)."""
        if not isinstance(spec, dict):
            raise BadRequest("Replication request must be a JSON object")
        if "source" not in spec or "target" not in spec:
            raise BadRequest("Replication request needs `source` and `target`")
        options = ReplicationOptions.from_json(spec)
        access = local_access(user)
        source, target = (open_endpoint(spec[side], couch=self.couch, client=self.client, access=access)
                          for side in ("source", "target"))
        return Replication(source, target, options, user=user.name, **labels)

    async def replicate(self, body, user):
        """``POST /_replicate`` by ``user`` (a ``UserCtx``): ``(status, answer)``. One-shot requests wait
        for the end (the history record); continuous ones answer ``202`` with the job id at once;
        ``cancel`` stops a job."""
        if isinstance(body, dict) and body.get("cancel"):
            return await self._cancel(body, user)
        job = self._job(body, user)
        job_id = await job.resolve_id()
        running = self.transient.get(job_id)
        if running is not None and not running.done:
            if job.options.continuous:
                return 202, {"ok": True, "_local_id": job_id}
            job = running
        else:
            self.transient[job_id] = job.start()
        if job.options.continuous:
            return 202, {"ok": True, "_local_id": job_id}
        try:
            return 200, {"ok": True, **await job.wait()}
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # this request itself is being cancelled (its client left)
            raise ReplicationCancelled() from None
        finally:
            if self.transient.get(job_id) is job:
                del self.transient[job_id]

    async def _cancel(self, body, user):
        job_id = body.get("replication_id") or body.get("id")
        if job_id is None:
            job_id = await self._job(body, user).resolve_id()
        job = self.transient.pop(job_id, None) if isinstance(job_id, str) else None
        if job is None:
            raise NotFound(f"Replication {job_id} is not running")
        job.cancel()
        return 200, {"ok": True, "_local_id": job_id}

    # -- the _replicator database ------------------------------------------------------------------

    async def _watch(self):
        since = 0
        while not self.couch.closed:
            if not self.couch.exists(REPLICATOR_DB):
                since = 0
                self._db_created.clear()
                await self._db_created.wait()
                continue
            db = self.couch.get_db(REPLICATOR_DB)
            for change in list(db.change_rows(since)):
                since = change.seq
                if not change.doc_id.startswith("_design/"):
                    self._sync_document(db, change.doc_id, change.tree)
            await db.wait_for_change(since, WATCH_TIMEOUT)
            if db.closed:
                self._forget_documents()

    def _forget_documents(self):
        for _, job in self.documents.values():
            job.cancel()
        self.documents.clear()

    def _sync_document(self, db, doc_id, tree):
        doc = db.doc_at(doc_id, tree)
        spec = None if doc is None or doc.get("_deleted") or doc.get("_replication_state") in TERMINAL \
            else {k: doc[k] for k in SPEC_FIELDS if k in doc}
        current = self.documents.get(doc_id)
        if current is not None and (current[0] == spec or (spec is None and current[1].done
                                                            and not doc.get("_deleted", False))):
            return
        if current is not None:
            current[1].cancel()
            del self.documents[doc_id]
        if spec is not None:
            self._start_document_job(doc_id, spec)

    def _start_document_job(self, doc_id, spec):
        try:
            job = self._job(spec, replicator_docs.job_user(spec), doc_id=doc_id, database=REPLICATOR_DB)
        except CouchError as err:
            asyncio.ensure_future(self._record(doc_id, "failed", {"_replication_state_reason": err.reason}))
            return
        self.documents[doc_id] = (spec, job.start())
        asyncio.ensure_future(self._finish_document_job(doc_id, job))

    async def _finish_document_job(self, doc_id, job):
        try:
            await job.wait()
        except asyncio.CancelledError:
            return
        except CouchError:
            pass
        if self.couch.closed or self.documents.get(doc_id, (None, None))[1] is not job:
            return
        if job.state == "completed":
            await self._record(doc_id, "completed", {"_replication_stats": job.stats.as_dict()})
        elif job.state == "failed":
            await self._record(doc_id, "failed", {"_replication_state_reason": job.error})

    async def _record(self, doc_id, state, fields):
        """Write a terminal state into the job's document, re-reading it after a conflict."""
        for _ in range(STATE_WRITE_ATTEMPTS):
            try:
                db = self.couch.get_db(REPLICATOR_DB)
                doc = db.get(doc_id)
                doc.update(fields, _replication_state=state, _replication_state_time=_iso(time.time()))
                db.put(doc)
                return
            except Conflict:
                continue
            except NotFound:
                return

    # -- observation -------------------------------------------------------------------------------

    def scheduler_docs(self):
        """Rows of ``GET /_scheduler/docs``: every ``_replicator`` document and its job's state."""
        rows = []
        for doc_id, (_, job) in sorted(self.documents.items()):
            rows.append({
                "database": REPLICATOR_DB, "doc_id": doc_id, "id": job.id, "node": "browsercouch@127.0.0.1",
                "source": job.source.name, "target": job.target.name, "state": job.state,
                "info": {**job.stats.as_dict(), **({"error": job.error} if job.error else {})},
                "error_count": job.attempts - 1 if job.state == "crashing" else 0,
                "last_updated": _iso(job.updated_on), "start_time": _iso(job.started_on),
            })
        return rows
