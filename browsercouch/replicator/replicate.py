"""One replication session, step by step as the CouchDB replication protocol describes it.

https://docs.couchdb.org/en/stable/replication/protocol.html — the section numbers in the comments below
are that document's. A session verifies both peers, finds where the last session that both peers
remember ended (``checkpoint.py``), then reads the source's ``_changes`` in batches of ``batch_size`` and,
for each batch: asks the target which revisions it lacks (``_revs_diff``), fetches exactly those with
their ancestry and the attachments the target cannot have (``_bulk_get`` with ``revs``, ``latest`` and
``atts_since``), and writes them as they are (``_bulk_docs`` with ``new_edits: false``), so deletions and
conflicts arrive intact: the target merges the same revision paths into its trees.

Theory of operation: one reader task reads batches of changes, in order, into a queue holding at most
``batches_in_flight`` batches; that many worker tasks replicate batches concurrently. Batches may finish
out of order, so a checkpoint records the end of the longest run of *finished* batches from the start
(``through_seq``): a restart from it never skips a change. The checkpoint is written after every batch
that extends that run. A one-shot session ends after the batch where the source reports nothing more; a
continuous one long-polls the source for ever, until it is cancelled. A failure anywhere cancels the
other tasks and propagates; whatever was written before is complete (each ``_bulk_docs`` is atomic per
document, and documents are written whole, attachments inline) and the checkpoints only cover it.

``replicate()`` runs one session and raises on the first error; retrying with back-off is the job's
business (``job.Replication``).
"""

import asyncio
import base64
import email.utils
import logging
import uuid
from dataclasses import dataclass, field, fields

from ..errors import BadRequest, NotFound
from .backoff import Backoff
from .checkpoint import LOWEST_SEQ, compare_replication_logs, new_log, read_log, write_log
from .endpoint import tag_error
from .replication_id import REPLICATION_ID_VERSION, replication_id

__all__ = ["replicate", "ReplicationOptions", "Stats", "BATCH_SIZE", "BATCHES_IN_FLIGHT"]

log = logging.getLogger("browsercouch.replicator")

# Changes per batch: PouchDB's batch_size (CouchDB's worker_batch_size is 500; 100 keeps a batch with
# attachments to a few MB and a checkpoint every 100 documents).
BATCH_SIZE = 100
# Batches replicated at once: CouchDB's worker_processes (4). PouchDB buffers up to 10 batches
# (batches_limit) but replicates one at a time.
BATCHES_IN_FLIGHT = 4
# Attachments fetched at once when a peer ignored atts_since and sent stubs the target cannot have.
ATTACHMENT_CONCURRENCY = 8
# Seconds between two empty polls of a continuous replication, at least.
MIN_POLL_INTERVAL = 1.0
# A one-shot replication gives up after this many failed attempts in a row (each after a back-off);
# continuous ones retry for ever unless told otherwise.
DEFAULT_RETRIES = 5


@dataclass
class ReplicationOptions:
    """What to replicate and how; the names are ``POST /_replicate``'s.

    At most one of ``doc_ids``, ``selector`` and ``filter`` (``"ddoc/name"``, with ``query_params``).
    ``since`` starts from that source sequence instead of 0 when there is no checkpoint. ``heartbeat``:
    seconds between a remote long-poll's keep-alive newlines (``None``: ``remote.HEARTBEAT``).
    ``retries``: failed attempts in a row before the job fails (``None``: ``DEFAULT_RETRIES`` for
    one-shot, never for continuous).
    """

    continuous: bool = False
    create_target: bool = False
    doc_ids: list | None = None
    selector: dict | None = None
    filter: str | None = None
    query_params: dict | None = None
    since: object = None
    batch_size: int = BATCH_SIZE
    batches_in_flight: int = BATCHES_IN_FLIGHT
    heartbeat: float | None = None
    retries: int | None = None
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self):
        chosen = [n for n in ("doc_ids", "selector", "filter") if getattr(self, n) is not None]
        if len(chosen) > 1:
            raise BadRequest(f"use only one of doc_ids, selector and filter (got {', '.join(chosen)})")
        checks = [
            (self.doc_ids is None or (isinstance(self.doc_ids, list)
                                      and all(isinstance(i, str) for i in self.doc_ids)),
             "`doc_ids` must be a list of strings"),
            (self.selector is None or isinstance(self.selector, dict), "`selector` must be an object"),
            (self.filter is None or isinstance(self.filter, str), "`filter` must be a string"),
            (self.query_params is None or isinstance(self.query_params, dict),
             "`query_params` must be an object"),
            (_positive(self.batch_size) and _positive(self.batches_in_flight),
             "batch_size and batches_in_flight must be positive integers"),
            (self.heartbeat is None or (isinstance(self.heartbeat, (int, float)) and self.heartbeat > 0),
             "heartbeat must be a positive number of seconds"),
        ]
        for ok, reason in checks:
            if not ok:
                raise BadRequest(reason)

    @classmethod
    def from_json(cls, body, **overrides):
        """Options from a ``POST /_replicate`` body or ``_replicator`` document (unknown keys ignored).

        ``since_seq`` is CouchDB's name for ``since``; ``worker_batch_size`` and ``worker_processes``
        map to ``batch_size`` and ``batches_in_flight``. Raises ``BadRequest`` for bad values.
        """
        renames = {"since_seq": "since", "worker_batch_size": "batch_size",
                   "worker_processes": "batches_in_flight"}
        known = {f.name for f in fields(cls)} - {"backoff", "retries", "heartbeat"}
        values = {renames.get(k, k): v for k, v in body.items() if renames.get(k, k) in known}
        for flag in ("continuous", "create_target"):
            if not isinstance(values.get(flag, False), bool):
                raise BadRequest(f"`{flag}` must be a boolean")
        return cls(**{**values, **overrides})

    def selection(self):
        """The ``changes()`` keyword arguments that select documents."""
        names = ("doc_ids", "selector", "filter", "query_params")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def _positive(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class Stats:
    """Progress counters, named as CouchDB's ``_active_tasks`` shows them, plus where the session is.

    ``replication_id`` is known once the session has found it; ``source_seq`` is the newest source
    sequence seen, ``through_seq`` the end of the changes fully replicated, ``checkpointed_source_seq``
    the last one recorded on both peers. ``unconfirmed`` holds, by document id, the revisions sent in a
    ``_bulk_docs`` whose answer never came: the next attempt's revision check tells whether they arrived.
    """

    COUNTERS = ("docs_read", "docs_written", "doc_write_failures", "missing_revisions_found",
                "revisions_checked")

    def __init__(self):
        for name in self.COUNTERS:
            setattr(self, name, 0)
        self.changes_pending = None
        self.source_seq = None
        self.through_seq = None
        self.checkpointed_source_seq = None
        self.replication_id = None
        self.unconfirmed = {}

    def as_dict(self):
        """The counters and sequences as a JSON-able dict."""
        result = {name: getattr(self, name) for name in self.COUNTERS}
        result.update(changes_pending=self.changes_pending, source_seq=self.source_seq,
                      through_seq=self.through_seq, checkpointed_source_seq=self.checkpointed_source_seq)
        return result


@dataclass
class _Batch:
    number: int
    rows: list
    last_seq: object


def _now():
    return email.utils.formatdate(usegmt=True)


async def replicate(source, target, options=None, *, stats=None, on_progress=None):
    """Run one replication session from ``source`` to ``target`` (endpoints).

    Args:
        options: ``ReplicationOptions`` (defaults: one-shot, everything).
        stats: a ``Stats`` to update as the session goes (a job passes the same one to every attempt).
        on_progress: called with no arguments after each batch and each checkpoint.

    Returns the final history record (one-shot), as CouchDB's ``POST /_replicate`` answers:
    ``{"ok": true, "session_id", "source_last_seq", "replication_id_version", "history": [...]}`` with
    ``"no_changes": true`` when there was nothing to do. A continuous session returns only when the
    source's feed ends for good, which it does not; cancel its task to stop it.
    Raises the first ``CouchError`` an endpoint raised (the peer is in ``err.peer``), or ``BadRequest``.
    """
    session = _Session(source, target, options or ReplicationOptions(), stats or Stats(),
                       on_progress or (lambda: None))
    return await session.run()


class _Session:
    def __init__(self, source, target, options, stats, on_progress):
        self.source, self.target = source, target
        self.options, self.stats, self.on_progress = options, stats, on_progress
        self.session_id = uuid.uuid4().hex
        self.start_time = _now()
        self.start_seq = LOWEST_SEQ
        self.old_history = []
        self.log_id = None
        self.revs = {}  # the checkpoint documents' current _rev on each endpoint
        self.recorded_seq = None
        self._done = {}  # finished batches not yet contiguous: number -> last_seq
        self._next_batch = 0
        self._through_seq = None
        self._lock = asyncio.Lock()

    async def run(self):
        # 2.4.2.1 Verify Peers and 2.4.2.2 Get Peers Information
        await self._verify_peers()
        # 2.4.2.3 Find Common Ancestry
        await self._find_common_ancestry()
        # 2.4.2.4 Locate Changed Documents, 2.4.2.5 Replicate Changes, 2.4.2.6 Continue Reading Changes
        await self._replicate_batches()
        # 2.4.2.4.4 Replication Completed
        return self._record()

    async def _verify_peers(self):
        # 2.4.2.1.1 Check Source Existence, 2.4.2.2.1 Get Source Information
        info = await self.source.info()
        self.stats.source_seq = info.get("update_seq") if isinstance(info, dict) else None
        # 2.4.2.1.2 Check Target Existence, 2.4.2.2.2 Get Target Information
        try:
            await self.target.info()
        except NotFound as err:
            if not self.options.create_target:
                # 2.4.2.1.4 Abort
                reason = f"{err.reason} (the target does not exist; create_target creates it)"
                raise tag_error(NotFound(reason), self.target.name) from err
            # 2.4.2.1.3 Create Target
            await self.target.create()
            await self.target.info()

    async def _find_common_ancestry(self):
        # 2.4.2.3.1 Generate Replication ID
        source_id, target_id = await asyncio.gather(self.source.id(), self.target.id())
        rep_id = replication_id(source_id, target_id, **self.options.selection(), since=self.options.since)
        self.stats.replication_id = rep_id
        self.log_id = "_local/" + rep_id
        # 2.4.2.3.2 Retrieve Replication Logs from Source and Target
        (source_log, self.revs["source"]), (target_log, self.revs["target"]) = await asyncio.gather(
            read_log(self.source, self.log_id), read_log(self.target, self.log_id))
        # 2.4.2.3.3 Compare Replication Logs
        start_seq, self.old_history = compare_replication_logs(source_log, target_log)
        if start_seq == LOWEST_SEQ and self.options.since is not None:
            start_seq = self.options.since
        self.start_seq = self.recorded_seq = self._through_seq = start_seq
        self.stats.through_seq = self.stats.checkpointed_source_seq = start_seq

    async def _replicate_batches(self):
        queue = asyncio.Queue(maxsize=self.options.batches_in_flight)
        workers = self.options.batches_in_flight
        tasks = [asyncio.ensure_future(self._read_changes(queue, workers))]
        tasks += [asyncio.ensure_future(self._worker(queue)) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_changes(self, queue, workers):
        """Put batches of changes on ``queue`` in order; then one ``None`` per worker (one-shot only)."""
        since, number, limit = self.start_seq, 0, self.options.batch_size
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            # 2.4.2.4.1 Listen to Changes Feed, 2.4.2.4.2 Read Batch of Changes
            feed = await self.source.changes(since, limit=limit, longpoll=self.options.continuous,
                                             heartbeat=self.options.heartbeat, **self.options.selection())
            rows, last_seq = feed["results"], feed["last_seq"]
            if self.options.continuous and not rows:
                # A peer that answers an empty long-poll at once (it ignores feed=longpoll) is polled
                # no faster than this, instead of in a tight loop.
                await asyncio.sleep(max(0.0, MIN_POLL_INTERVAL - (loop.time() - started)))
            self.stats.changes_pending = feed["pending"]
            if rows or last_seq != since:
                self.stats.source_seq = last_seq
                await queue.put(_Batch(number, rows, last_seq))
                number += 1
            since = last_seq
            # 2.4.2.4.4 Replication Completed: nothing more to read for a one-shot replication
            if not self.options.continuous and (not rows or (len(rows) < limit and feed["pending"] == 0)):
                break
        for _ in range(workers):
            await queue.put(None)

    async def _worker(self, queue):
        while (batch := await queue.get()) is not None:
            if batch.rows:
                await self._replicate_batch(batch.rows)
            await self._batch_done(batch)

    async def _replicate_batch(self, rows):
        """Replicate one batch. Its counters are added only once its outcome is known: a batch cut off
        is done again by the next attempt, which counts it (revisions it finds on the target that the
        cut-off attempt had sent count as written then)."""
        # 2.4.2.4.3 Calculate Revision Difference
        revs = {}
        for row in rows:  # a clustered peer may list a document twice in one batch
            revs.setdefault(row["id"], []).extend(change["rev"] for change in row["changes"])
        diff = await self.target.revs_diff(revs) if revs else {}
        docs, failed = [], []
        if diff:
            # 2.4.2.5.1 Fetch Changed Documents
            docs = await self._fetch(diff)
        if docs:
            # 2.4.2.5.2 Upload Batch of Changed Documents; 2.4.2.5.3 attachments travel inline, in base64
            try:
                failed = await self.target.bulk_docs(docs)
            except BaseException:
                for doc in docs:  # sent, maybe stored: the next attempt's revs_diff tells
                    self.stats.unconfirmed.setdefault(doc["_id"], set()).add(doc["_rev"])
                raise
        for row in failed:
            log.warning("replication %s: cannot write %s %s: %s: %s", self.stats.replication_id,
                        row.get("id"), row.get("rev", ""), row.get("error"), row.get("reason"))
        arrived = self._confirm_arrivals(revs, diff)
        stats = self.stats
        stats.revisions_checked += sum(len(r) for r in revs.values())
        stats.missing_revisions_found += arrived + sum(len(e.get("missing", ())) for e in diff.values())
        stats.docs_read += arrived + len(docs)
        stats.doc_write_failures += len(failed)
        stats.docs_written += arrived + len(docs) - len(failed)

    def _confirm_arrivals(self, revs, diff):
        """How many revisions an earlier, cut-off attempt sent that the target now has. The checked
        documents' unconfirmed revisions are settled: arrived, or written again by this batch."""
        arrived = 0
        for doc_id, checked in revs.items():
            sent = self.stats.unconfirmed.pop(doc_id, ())
            missing = diff.get(doc_id, {}).get("missing", ())
            arrived += sum(1 for rev in sent if rev in checked and rev not in missing)
        return arrived

    async def _fetch(self, diff):
        """The missing revisions, whole: ancestry in ``_revisions``, and attachment data for every
        attachment the target cannot have (newer than its ``possible_ancestors``)."""
        fresh, known = [], []
        for doc_id, entry in diff.items():
            ancestors = entry.get("possible_ancestors") or []
            for rev in entry.get("missing", ()):
                if ancestors:
                    known.append({"id": doc_id, "rev": rev, "atts_since": ancestors})
                else:
                    fresh.append({"id": doc_id, "rev": rev})
        groups = [(reqs, attachments) for reqs, attachments in ((fresh, True), (known, False)) if reqs]
        answers = await asyncio.gather(*(self.source.bulk_get(r, attachments=a) for r, a in groups))
        docs = {}
        for results in answers:
            for result in results:
                for item in result.get("docs", ()):
                    doc = item.get("ok")
                    if isinstance(doc, dict) and "_id" in doc and "_rev" in doc:
                        docs[doc["_id"], doc["_rev"]] = doc
        await self._fill_attachments(docs.values(), diff)
        return list(docs.values())

    async def _fill_attachments(self, docs, diff):
        """Inline the data of stubs the target cannot resolve (a peer that ignored ``atts_since``)."""
        wanted = []
        for doc in docs:
            since = _ancestor_pos(doc, diff.get(doc["_id"], {}).get("possible_ancestors") or [])
            for name, att in (doc.get("_attachments") or {}).items():
                revpos = att.get("revpos")
                if att.get("stub") and not (isinstance(revpos, int) and revpos <= since):
                    wanted.append((doc, name, att))
        if not wanted:
            return
        limit = asyncio.Semaphore(ATTACHMENT_CONCURRENCY)

        async def fetch(doc, name, att):
            async with limit:
                data = await self.source.get_attachment(doc["_id"], name, doc["_rev"])
            doc["_attachments"][name] = {"content_type": att.get("content_type", "application/octet-stream"),
                                         "revpos": att.get("revpos"), "data": base64.b64encode(data).decode()}

        await asyncio.gather(*(fetch(*w) for w in wanted))

    async def _batch_done(self, batch):
        self._done[batch.number] = batch.last_seq
        advanced = False
        while self._next_batch in self._done:
            self._through_seq = self._done.pop(self._next_batch)
            self._next_batch += 1
            advanced = True
        self.on_progress()
        if advanced:
            self.stats.through_seq = self._through_seq
            await self._checkpoint()

    async def _checkpoint(self):
        async with self._lock:
            seq = self._through_seq
            if seq == self.recorded_seq:
                return  # a worker that finished meanwhile has recorded it already
            # 2.4.2.5.4 Ensure In Commit
            await self.target.ensure_full_commit()
            # 2.4.2.5.5 Record Replication Checkpoint
            entry = self._history_entry(seq)
            body = new_log(self.session_id, seq, entry, self.old_history)
            self.revs["source"], self.revs["target"] = await asyncio.gather(
                write_log(self.source, self.log_id, body, self.revs["source"]),
                write_log(self.target, self.log_id, body, self.revs["target"]))
            self.recorded_seq = self.stats.checkpointed_source_seq = seq
        self.on_progress()

    def _history_entry(self, seq):
        stats = self.stats
        return {
            "session_id": self.session_id,
            "start_time": self.start_time,
            "end_time": _now(),
            "start_last_seq": self.start_seq,
            "end_last_seq": seq,
            "recorded_seq": seq,
            "missing_checked": stats.revisions_checked,
            "missing_found": stats.missing_revisions_found,
            "docs_read": stats.docs_read,
            "docs_written": stats.docs_written,
            "doc_write_failures": stats.doc_write_failures,
        }

    def _record(self):
        seq = self.recorded_seq
        record = {
            "ok": True,
            "session_id": self.session_id,
            "source_last_seq": seq,
            "replication_id_version": REPLICATION_ID_VERSION,
            "history": new_log(self.session_id, seq, self._history_entry(seq), self.old_history)["history"],
        }
        if seq == self.start_seq and self.stats.docs_read == 0:
            record["no_changes"] = True
        return record


def _ancestor_pos(doc, ancestors):
    """The newest generation among ``ancestors`` on ``doc``'s own revision path (0 if none is)."""
    revisions = doc.get("_revisions")
    if not isinstance(revisions, dict) or not ancestors:
        return 0
    start, ids = revisions.get("start", 0), revisions.get("ids") or []
    path = {f"{start - i}-{digest}" for i, digest in enumerate(ids)}
    return max((int(rev.split("-", 1)[0]) for rev in ancestors if rev in path), default=0)
