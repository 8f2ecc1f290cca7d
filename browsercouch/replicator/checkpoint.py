"""Replication checkpoints: the ``_local/<replication id>`` log on both peers, and how to read it.

Theory of operation
-------------------
After each batch a replication records how far it got (``source_last_seq``) in a *replication log*, a
``_local`` document with the same id on the source and on the target. A log is CouchDB's shape::

    {"session_id": "<this run>", "source_last_seq": <seq>, "replication_id_version": 1,
     "history": [{"session_id", "recorded_seq", "start_time", "end_time", "docs_read", ...}, ...]}

``history`` holds one entry per run, newest first: the current run's entry is rewritten at every
checkpoint, the runs before it follow. When a replication starts it reads both logs and compares them
(``compare_replication_logs``): if both sides recorded the same last session, that session's
``source_last_seq`` is where to start; if they differ (one side's write was lost, a database was
restored from a backup) the newest session both histories know gives the start; with none, it starts
from the beginning. Starting too early is always safe (``_revs_diff`` skips what the target has);
starting too late would lose documents, which is why both sides must agree.

The comparison is a port of CouchDB's ``couch_replicator_scheduler_job:compare_replication_logs/2`` and
``compare_rep_history/2`` (src/couch_replicator/src/couch_replicator_scheduler_job.erl), which
PouchDB's ``pouchdb-checkpointer`` also ports (``compareReplicationLogs``). The history cap is CouchDB's
50 entries (PouchDB keeps 5): a log stays a few kilobytes, and 50 past sessions find a common ancestor
even after many one-sided runs. A write that meets ``409 conflict`` (another run, or a stale ``_rev``)
re-reads the document and retries, as PouchDB's ``updateCheckpoint`` does.

``compare_replication_logs``, ``compare_rep_history`` and ``new_log`` are pure; ``read_log`` and
``write_log`` do I/O through an endpoint's ``get_local``/``put_local``.
"""

from ..errors import Conflict, NotFound
from .replication_id import REPLICATION_ID_VERSION

__all__ = [
    "LOWEST_SEQ",
    "MAX_HISTORY",
    "compare_replication_logs",
    "compare_rep_history",
    "new_log",
    "read_log",
    "write_log",
]

# Where a replication with no usable checkpoint starts (CouchDB's ?LOWEST_SEQ).
LOWEST_SEQ = 0
# Sessions kept in a log's history (CouchDB: lists:sublist([NewHistoryEntry | OldHistory], 50)).
MAX_HISTORY = 50
# Attempts at writing one checkpoint when each meets 409 (PouchDB retries without a bound; a peer that
# conflicts this often has another replication with the same id running).
MAX_WRITE_ATTEMPTS = 5


def _history(log):
    history = log.get("history") if isinstance(log, dict) else None
    return [entry for entry in history if isinstance(entry, dict)] if isinstance(history, list) else []


def compare_replication_logs(source_log, target_log):
    """``(start_seq, history)`` from the logs read on the source and the target (``None`` if missing).

    ``start_seq`` is where the replication may safely resume; ``history`` is the list of past sessions to
    keep below the new session's entry.
    """
    source_log = source_log if isinstance(source_log, dict) else {}
    target_log = target_log if isinstance(target_log, dict) else {}
    if source_log.get("session_id") == target_log.get("session_id"):
        # The same last session on both sides (or no log on either): its record is valid.
        return source_log.get("source_last_seq", LOWEST_SEQ), _history(source_log)
    return compare_rep_history(_history(source_log), _history(target_log))


def _has_session_id(session_id, history):
    return session_id is not None and any(entry.get("session_id") == session_id for entry in history)


def compare_rep_history(source_history, target_history):
    """``(start_seq, history)``: the newest session both histories share, walking them in step.

    At each step the source's head is looked for in the whole remaining target history, then the
    target's head in the rest of the source history. Without a shared session: ``(LOWEST_SEQ, [])``.
    """
    source, target = list(source_history), list(target_history)
    while source and target:
        if _has_session_id(source[0].get("session_id"), target):
            return source[0].get("recorded_seq", LOWEST_SEQ), source[1:]
        if _has_session_id(target[0].get("session_id"), source[1:]):
            return target[0].get("recorded_seq", LOWEST_SEQ), target[1:]
        source, target = source[1:], target[1:]
    return LOWEST_SEQ, []


def new_log(session_id, recorded_seq, entry, old_history, max_history=MAX_HISTORY):
    """The log body to write: this session's ``entry`` on top of ``old_history``, capped."""
    return {
        "session_id": session_id,
        "source_last_seq": recorded_seq,
        "replication_id_version": REPLICATION_ID_VERSION,
        "history": ([entry] + list(old_history))[:max_history],
    }


async def read_log(endpoint, doc_id):
    """``(log, rev)`` of ``_local`` document ``doc_id`` on ``endpoint``, or ``(None, None)`` if missing."""
    try:
        doc = await endpoint.get_local(doc_id)
    except NotFound:
        return None, None
    rev = doc.pop("_rev", None)
    doc.pop("_id", None)
    return doc, rev


async def write_log(endpoint, doc_id, log, rev):
    """Write ``log`` as ``_local`` document ``doc_id`` over ``rev``; return the new rev.

    On ``409 conflict`` re-read the current rev and try again, up to ``MAX_WRITE_ATTEMPTS`` times, then
    raise the ``Conflict``. Other errors propagate.
    """
    for _ in range(MAX_WRITE_ATTEMPTS - 1):
        try:
            return await _put(endpoint, doc_id, log, rev)
        except Conflict:
            _, rev = await read_log(endpoint, doc_id)
    return await _put(endpoint, doc_id, log, rev)


async def _put(endpoint, doc_id, log, rev):
    doc = {"_id": doc_id, **log}
    if rev is not None:
        doc["_rev"] = rev
    return (await endpoint.put_local(doc))["rev"]
