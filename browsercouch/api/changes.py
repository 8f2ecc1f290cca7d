"""``GET/POST /db/_changes`` with every feed CouchDB has: normal, longpoll, continuous, eventsource.

Theory: a feed is a loop over ``Database.changes(since)`` pages. ``normal`` reads once; ``longpoll``
reads, and if nothing passed the filter, waits for the next change (sending heartbeat newlines) and
reads again; ``continuous`` and ``eventsource`` never stop reading and waiting until ``timeout`` passes
without a change, ``limit`` rows were sent, the database is deleted, or the client goes away. A
``descending`` feed has no next change to wait for (it walks away from new ones), so every feed makes one
pass then. Filters (``_doc_ids``, ``_selector``, ``_design``) are plain Python predicates applied to
each row.
"""

import time

from ..errors import BadRequest
from ..store import revtree
from ..store.mango import compile_selector
from .messages import StreamResponse, dumps

# CouchDB's [chttpd] changes_timeout: a waiting feed ends after 60 s without a change.
DEFAULT_TIMEOUT_MS = 60_000
# ``heartbeat=true`` means this interval (CouchDB's default).
DEFAULT_HEARTBEAT_MS = 60_000
# Nobody needs a heartbeat faster than this; it keeps a client from making the server spin.
MIN_HEARTBEAT_MS = 100
# Longer timeouts and heartbeats are cut to this (Erlang's ``receive ... after`` limit, 2^32-1 ms, about
# 50 days): longer waits mean the same, and huge numbers would overflow the event loop's timers.
MAX_WAIT_MS = 2**32 - 1
# A sequence number SQLite can hold; anything larger cannot have come from this server.
MAX_SEQ = 2**63 - 1
FEEDS = ("normal", "longpoll", "continuous", "eventsource")


class ChangesQuery:
    """The ``_changes`` parameters from the query string and, for POST, the JSON body."""

    def __init__(self, db, query, body):
        self.feed = query.get("feed", "normal")
        if self.feed not in FEEDS:
            raise BadRequest("Supported `feed` types: normal, continuous, live, longpoll, eventsource")
        self.since = _parse_since(query.get("since", "0"), db)
        self.limit = query.int("limit")
        self.descending = query.bool("descending")
        self.all_leaves = query.get("style", "main_only") == "all_docs"
        self.include_docs = query.bool("include_docs")
        self.doc_options = {"conflicts": query.bool("conflicts"), "attachments": query.bool("attachments")}
        self.timeout = min(query.int("timeout", DEFAULT_TIMEOUT_MS), MAX_WAIT_MS) / 1000
        self.heartbeat = _parse_heartbeat(query.get("heartbeat"))
        self.accept = _make_filter(db, query, body)


def _parse_since(value, db):
    """``since``: ``now``, a number, or an opaque ``N-...`` sequence whose number part we read."""
    if value == "now":
        return db.update_seq
    seq = _natural(value.split("-", 1)[0].strip('"'))
    if seq is None or seq > MAX_SEQ:
        raise BadRequest(f"Malformed sequence supplied in 'since' parameter: {value}")
    return seq


def _natural(text):
    """``text`` as a non-negative integer, or ``None``: ASCII digits only (``str.isdigit`` also takes
    ``²``, which ``int()`` refuses), and no more than ``int()`` converts (4300 digits)."""
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _parse_heartbeat(value):
    if value is None or value == "false":
        return None
    if value == "true":
        return DEFAULT_HEARTBEAT_MS / 1000
    ms = _natural(value)
    if ms is None:
        raise BadRequest("Invalid heartbeat value. Expecting a positive integer value.")
    return min(max(ms, MIN_HEARTBEAT_MS), MAX_WAIT_MS) / 1000


def _make_filter(db, query, body):
    """A predicate ``accept(doc_id, tree) -> bool`` for the ``filter`` parameter, or ``None``."""
    name = query.get("filter")
    if name is None:
        return None
    if name == "_doc_ids":
        doc_ids = body.get("doc_ids", query.json("doc_ids"))
        if not isinstance(doc_ids, list) or not all(isinstance(i, str) for i in doc_ids):
            # couch_changes: every element must be a string too.
            raise BadRequest("`doc_ids` filter parameter is not a list of doc ids.")
        wanted = set(doc_ids)
        return lambda doc_id, tree: doc_id in wanted
    if name == "_selector":
        selector = body.get("selector")
        if not isinstance(selector, dict):
            raise BadRequest("Selector must be specified in POST payload")
        matches = compile_selector(selector)
        return lambda doc_id, tree: _selector_accepts(db, matches, doc_id, tree)
    if name == "_design":
        return lambda doc_id, tree: doc_id.startswith("_design/")
    raise BadRequest(f"Filter `{name}` is not supported: JavaScript filter functions are not available")


def _selector_accepts(db, matches, doc_id, tree):
    doc = db.doc_at(doc_id, tree)
    return doc is not None and matches(doc)


async def changes(req):
    body = await req.json() if req.method == "POST" else {}
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    q = ChangesQuery(req.db, req.query, body)
    if q.feed == "normal":
        return StreamResponse(_normal(req.db, q))
    if q.feed == "longpoll":
        return StreamResponse(_longpoll(req.db, q), request=req)
    if q.feed == "eventsource":
        return StreamResponse(_continuous(req.db, q, _event), content_type="text/event-stream", request=req)
    return StreamResponse(_continuous(req.db, q, _line), request=req)


def _row(db, q, doc_id, seq, winner, deleted, tree):
    leaves = revtree.collect_leaves(tree) if q.all_leaves else None
    row = {
        "seq": seq,
        "id": doc_id,
        "changes": [{"rev": revtree.format_rev(r)} for r in leaves] if leaves else [{"rev": winner}],
    }
    if deleted:
        row["deleted"] = True
    if q.include_docs:
        row["doc"] = db.doc_at(doc_id, tree, **q.doc_options)
    return row


def _scan(db, q, since, limit):
    """Rows after ``since`` that pass the filter, at most ``limit``; returns ``(rows, last_seq)``."""
    rows, last_seq = [], since
    for doc_id, seq, winner, deleted, tree in db.changes(since, descending=q.descending,
                                                         limit=None if q.accept else limit):
        last_seq = seq
        if q.accept is None or q.accept(doc_id, tree):
            rows.append(_row(db, q, doc_id, seq, winner, deleted, tree))
            if limit is not None and len(rows) >= limit:
                break
    return rows, last_seq


async def _normal(db, q):
    rows, last_seq = _scan(db, q, q.since, q.limit)
    for chunk in _results_body(db, rows, last_seq):
        yield chunk


def _results_body(db, rows, last_seq):
    yield b'{"results":[\n'
    yield b",\n".join(dumps(row)[:-1] for row in rows)
    pending = 0 if db.closed else db.storage.count_after_seq(last_seq)
    yield b'\n],\n"last_seq":%d,"pending":%d}\n' % (last_seq, pending)


async def _longpoll(db, q):
    since, deadline, rows = q.since, time.monotonic() + q.timeout, []
    while not db.closed:
        rows, since = _scan(db, q, since, q.limit)
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0 or q.descending:
            break
        if not await db.wait_for_change(since, min(remaining, q.heartbeat or remaining)):
            if q.heartbeat:
                yield b"\n"
    for chunk in _results_body(db, rows, since):
        yield chunk


def _line(row):
    return dumps(row)


def _event(row):
    return b"data: " + dumps(row)[:-1] + b"\nid: %d\n\n" % row["seq"]


async def _continuous(db, q, encode):
    since, sent = q.since, 0
    idle_since = time.monotonic()
    while (q.limit is None or sent < q.limit) and not db.closed:
        rows, since = _scan(db, q, since, None if q.limit is None else q.limit - sent)
        for row in rows:
            yield encode(row)
        sent += len(rows)
        if rows:
            idle_since = time.monotonic()
        if (q.limit is not None and sent >= q.limit) or q.descending:
            break
        wait = q.heartbeat if q.heartbeat else q.timeout - (time.monotonic() - idle_since)
        if wait <= 0:
            break
        if not await db.wait_for_change(since, wait):
            if not q.heartbeat:
                break
            yield b"\n" if encode is _line else b"event: heartbeat\ndata: \n\n"
    if encode is _line:
        yield dumps({"last_seq": since, "pending": 0})
