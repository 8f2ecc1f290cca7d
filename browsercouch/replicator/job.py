"""``Replication``: a replication job that can be started, watched and cancelled.

The API's ``POST /_replicate``, the ``_replicator`` database, ``_active_tasks``, ``_scheduler/jobs`` and
the command line all drive replications through this one object::

    job = Replication(source, target, ReplicationOptions(continuous=True))
    job.start()                 # a task on the running event loop
    job.status()                # {"state", "error", "stats", ...} at any time
    job.active_task()           # one row of GET /_active_tasks
    job.scheduler_job()         # one row of GET /_scheduler/jobs
    job.cancel()
    result = await job.wait()   # the final history record, or ReplicationError

Theory of operation: a job runs sessions (``replicate.replicate``) until one completes. A session that
fails with a *transient* error (the peer unreachable or silent, a 5xx, 408 or 429, an answer that is not
JSON) is retried after ``options.backoff`` delays, resuming from the last checkpoint; the count of
failures in a row is reset whenever a session gets a new checkpoint recorded. Anything else (401, 403,
a missing database, a bad request) fails the job at once, with a message that says which peer refused
and why. States follow CouchDB's ``_scheduler/docs``: ``initializing`` -> ``running`` (-> ``crashing``
while waiting to retry) -> ``completed`` | ``failed`` | ``cancelled``. A continuous job stays
``running`` until cancelled. No threads: the job is one asyncio task.
"""

import asyncio
import time
from datetime import datetime, timezone

from ..errors import CouchError, ReplicationError
from .replicate import DEFAULT_RETRIES, ReplicationOptions, Stats, replicate
from .replication_id import replication_id

__all__ = ["Replication"]

FINAL_STATES = ("completed", "failed", "cancelled")
# Scheduler history events kept per job (CouchDB's [replicator] max_history is 20).
MAX_EVENTS = 20
TRANSIENT_STATUSES = frozenset({408, 429})
# The _scheduler/jobs history event each state change records.
_EVENTS = {"running": "started", "crashing": "crashed", "completed": "completed", "failed": "failed",
           "cancelled": "cancelled"}


def is_transient(err):
    """Whether retrying may help: the peer was away or broken rather than refusing."""
    return isinstance(err, CouchError) and (err.status >= 500 or err.status in TRANSIENT_STATUSES)


def _iso(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Replication:
    """A replication from ``source`` to ``target`` (endpoints) with ``options``.

    ``doc_id``, ``database`` and ``user`` are shown in ``_active_tasks`` and ``_scheduler/jobs`` (the
    ``_replicator`` document that started the job, its database, and who asked). ``on_change`` is
    called with the job after every batch, checkpoint and state change (keep it quick).
    """

    def __init__(self, source, target, options=None, *, doc_id=None, database=None, user=None,
                 on_change=None):
        self.source = source
        self.target = target
        self.options = options or ReplicationOptions()
        self.doc_id, self.database, self.user = doc_id, database, user
        self.on_change = on_change
        self.stats = Stats()
        self.state = "initializing"
        self.error = None
        self.result = None
        self.attempts = 0
        self.events = []
        self.started_on = self.updated_on = time.time()
        self._task = None
        self._event("added")

    # -- identity ----------------------------------------------------------------------------------

    @property
    def replication_id(self):
        """The replication id (the checkpoints' ``_local`` id), once a session has computed it."""
        return self.stats.replication_id

    @property
    def id(self):
        """CouchDB's job id: the replication id plus ``+continuous`` / ``+create_target``; ``None`` until
        known (``resolve_id()`` computes it without starting)."""
        rep_id = self.stats.replication_id
        if rep_id is None:
            return None
        return rep_id + ("+continuous" if self.options.continuous else "") + \
            ("+create_target" if self.options.create_target else "")

    async def resolve_id(self):
        """Compute the replication id from the endpoints' ids (a request to each remote peer); return
        ``id``. Useful to find a running job for ``POST /_replicate {"cancel": true}``."""
        if self.stats.replication_id is None:
            source_id, target_id = await asyncio.gather(self.source.id(), self.target.id())
            self.stats.replication_id = replication_id(source_id, target_id, **self.options.selection(),
                                                       since=self.options.since)
        return self.id

    # -- control -----------------------------------------------------------------------------------

    def start(self):
        """Start the job as a task on the running loop; return ``self``. Starting twice is an error."""
        if self._task is not None:
            raise RuntimeError("the replication was started already")
        self._task = asyncio.ensure_future(self.run())
        self._task.add_done_callback(_consume)
        return self

    def cancel(self):
        """Stop the job (idempotent). Writes in flight finish or not at all; checkpoints stay valid."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        elif self._task is None and self.state not in FINAL_STATES:
            self._set_state("cancelled")

    async def wait(self):
        """Wait for the job to end; return the history record, or raise ``ReplicationError`` or
        ``asyncio.CancelledError`` (cancelled)."""
        if self._task is None:
            raise RuntimeError("the replication was not started")
        return await asyncio.shield(self._task)

    @property
    def done(self):
        """Whether the job has ended: completed, failed or cancelled."""
        return self.state in FINAL_STATES

    async def run(self):
        """Run the job in the current task until it completes, fails or is cancelled (see ``wait()``)."""
        failures = 0
        try:
            while True:
                self.attempts += 1
                self._set_state("running")
                checkpointed = self.stats.checkpointed_source_seq
                try:
                    self.result = await replicate(self.source, self.target, self.options, stats=self.stats,
                                                  on_progress=self._progress)
                except CouchError as err:
                    failures = 1 if self.stats.checkpointed_source_seq != checkpointed else failures + 1
                    await self._after_failure(err, failures)
                    continue
                self._set_state("completed")
                return self.result
        except asyncio.CancelledError:
            self._set_state("cancelled")
            raise
        except Exception as err:
            if not isinstance(err, ReplicationError):  # a bug, not a peer: say so instead of hanging
                self.error = f"internal error: {err!r}"
                self._set_state("failed", self.error)
            raise

    async def _after_failure(self, err, failures):
        """Wait before the next attempt, or fail the job with a clear message."""
        limit = self.options.retries
        if limit is None:
            limit = None if self.options.continuous else DEFAULT_RETRIES
        message = self._describe(err)
        if not is_transient(err) or (limit is not None and failures > limit):
            if is_transient(err):
                message = f"gave up after {failures} failed attempts in a row; last: {message}"
            self.error = message
            self._set_state("failed", message)
            raise ReplicationError(message, err) from err
        self.error = message
        self._set_state("crashing", message)
        await asyncio.sleep(self.options.backoff.delay(failures))

    def _describe(self, err):
        peer = getattr(err, "peer", None)
        role = "source" if peer == self.source.name else "target" if peer == self.target.name else "peer"
        where = f"{role} {peer}" if peer else "replication"
        what = f"{err.status} {err.error}: {err.reason}"
        if err.status in (401, 403):
            return f"{where} refused access ({what}); check the credentials and the database's _security"
        return f"{where}: {what}"

    # -- observation -------------------------------------------------------------------------------

    def _progress(self):
        self.updated_on = time.time()
        if self.on_change is not None:
            self.on_change(self)

    def _set_state(self, state, reason=None):
        self.state = state
        self._event(_EVENTS[state], reason)
        self._progress()

    def _event(self, kind, reason=None):
        event = {"timestamp": _iso(time.time()), "type": kind}
        if reason is not None:
            event["reason"] = reason
        self.events = [event, *self.events][:MAX_EVENTS]

    def status(self):
        """A JSON-able summary: ``state``, ``error``, ``id``, ``source``, ``target``, ``continuous``,
        ``attempts`` and ``stats`` (the counters)."""
        return {
            "id": self.id,
            "state": self.state,
            "error": self.error,
            "source": self.source.name,
            "target": self.target.name,
            "continuous": self.options.continuous,
            "attempts": self.attempts,
            "stats": self.stats.as_dict(),
        }

    def active_task(self):
        """The job as a row of ``GET /_active_tasks`` (CouchDB 3.x field names)."""
        task = {
            "type": "replication",
            "replication_id": self.id,
            "doc_id": self.doc_id,
            "database": self.database,
            "user": self.user,
            "source": self.source.name,
            "target": self.target.name,
            "continuous": self.options.continuous,
            "started_on": int(self.started_on),
            "updated_on": int(self.updated_on),
            "pid": f"<0.{id(self) % 100000}.0>",
            "node": "browsercouch@127.0.0.1",
        }
        task.update(self.stats.as_dict())
        return task

    def scheduler_job(self):
        """The job as a row of ``GET /_scheduler/jobs`` (CouchDB 3.x shape)."""
        info = self.stats.as_dict()
        if self.error is not None:
            info["error"] = self.error
        return {
            "id": self.id,
            "database": self.database,
            "doc_id": self.doc_id,
            "user": self.user,
            "source": self.source.name,
            "target": self.target.name,
            "node": "browsercouch@127.0.0.1",
            "pid": f"<0.{id(self) % 100000}.0>",
            "start_time": _iso(self.started_on),
            "history": list(self.events),
            "info": info,
        }


def _consume(task):
    """Mark a started job's exception as retrieved: it lives on in ``state`` and ``error``."""
    if not task.cancelled():
        task.exception()
