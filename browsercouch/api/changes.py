"""``GET/POST /db/_changes`` with every feed CouchDB has: normal, longpoll, continuous, eventsource.

Theory: a feed is made of passes of ``Database.changes`` (``store/changes.py``: which rows, where a pass
ends, what is pending); this module reads the query and encodes. ``normal`` makes one pass; ``longpoll``
makes one, and if nothing passed the filter, waits for the next change (sending heartbeat newlines) and
makes another; ``continuous`` and ``eventsource`` never stop passing and waiting until ``timeout`` passes
without a change, ``limit`` rows were sent, the database is deleted, or the client goes away. A
``descending`` feed has no next change to wait for (it walks away from new ones), so every feed makes one
pass then. Every feed streams: rows go out in chunks as the pass finds them.
"""

import json
import time
from urllib.parse import unquote

from ..errors import BadContentType, BadRequest
from ..store import FeedEnd
from . import system_dbs
from .messages import ChunkedResponse, Response, dumps, etag_matches, loads, opaque_etag

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
# Bytes of encoded rows gathered into one chunk of a normal feed: few writes, bounded memory.
CHUNK_SIZE = 64 * 1024


class ChangesQuery:
    """The ``_changes`` parameters from the query string and, for POST, the JSON body (``None`` for a
    GET), read as
    ``chttpd_db:parse_changes_query/1`` reads them: a flag is on only when it is ``true`` (anything else
    is off, never an error), a negative ``limit`` is no limit, ``feed=live`` is ``continuous``, an
    event source's ``Last-Event-ID`` header (a browser reconnecting) overrides ``since``, and a
    descending feed ignores ``since``."""

    def __init__(self, db, query, body, headers):
        feed = query.get("feed", "normal")
        self.feed = "continuous" if feed == "live" else feed
        if self.feed not in FEEDS:
            raise BadRequest("Supported `feed` types: normal, continuous, live, longpoll, eventsource")
        since = query.get("since", query.get("last-event-id", "0"))
        if self.feed == "eventsource":
            since = headers.get("last-event-id", since)
        self.descending = _flag(query, "descending")
        # fabric_view_changes:get_start_seq/2: a descending feed starts from the newest change, whatever
        # `since` says (it is not even read).
        self.since = 0 if self.descending else _parse_since(since, db)
        limit = query.int("limit", minimum=-MAX_SEQ)
        self.limit = None if limit is None or limit < 0 else limit
        self.timeout = min(query.int("timeout", DEFAULT_TIMEOUT_MS), MAX_WAIT_MS) / 1000
        self.heartbeat = _parse_heartbeat(query.get("heartbeat"))
        _check_seq_interval(query.get("seq_interval"))
        # What every pass of Database.changes is asked for.
        self.options = {
            "descending": self.descending,
            "all_leaves": query.get("style", "main_only") == "all_docs",
            "include_docs": _flag(query, "include_docs"),
            "doc_options": {name: _flag(query, name) for name in ("conflicts", "attachments")},
            **_selection(db, query, body),
        }


def _flag(query, name):
    return query.get(name) == "true"


def _parse_since(value, db):
    """``since``: ``now``, a number, or an opaque ``N-...`` sequence whose number part we read."""
    if value == "now":
        return db.update_seq
    seq = _natural(value.split("-", 1)[0].strip('"'))
    if seq is None or seq > MAX_SEQ:
        raise BadRequest("Malformed sequence supplied in 'since' parameter.")
    return seq


def _check_seq_interval(value):
    """``seq_interval`` (how often CouchDB computes a full sequence) changes nothing here: our sequences
    are cheap. It is still checked as CouchDB checks it."""
    if value is not None and not ((_natural(value) or 0) > 0):
        raise BadRequest("invalid_seq_interval")


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
    if value is None:
        return None
    if value == "true":
        return DEFAULT_HEARTBEAT_MS / 1000
    ms = _natural(value)
    if ms is None:
        raise BadRequest("Invalid heartbeat value. Expecting a positive integer value (in milliseconds).")
    if ms == 0:
        raise BadRequest("The heartbeat value should be a positive integer (in milliseconds).")
    return min(max(ms, MIN_HEARTBEAT_MS), MAX_WAIT_MS) / 1000


def _selection(db, query, body):
    """The ``Database.changes`` options of the ``filter`` parameter: ``doc_ids``, ``selector`` or
    ``design_only`` (none for every document), checked as ``couch_changes:configure_filter/4`` does."""
    name = query.get("filter", "")
    if name == "":
        return {}
    if name == "_doc_ids":
        doc_ids = query.json("doc_ids") if body is None else body.get("doc_ids")
        if not isinstance(doc_ids, list) or not all(isinstance(i, str) for i in doc_ids):
            # couch_changes: every element must be a string too.
            raise BadRequest("`doc_ids` filter parameter is not a list of doc ids.")
        return {"doc_ids": doc_ids}
    if name == "_selector":
        if body is None:
            raise BadRequest("Selector must be specified in POST payload")
        if not isinstance(body.get("selector"), dict):
            raise BadRequest("Selector error: expected a JSON object")
        return {"selector": body["selector"]}
    if name == "_design":
        return {"design_only": True}
    if name == "_view":
        return {"doc_filter": db.filter("_view", view=query.get("view"))}
    if name.startswith("_"):
        raise BadRequest("unknown builtin filter name")
    req = {"query": dict(query.raw), "method": "GET" if body is None else "POST",
           "body": "undefined" if body is None else json.dumps(body), "info": db.info(), "id": None,
           "userCtx": {"db": db.name, "name": None, "roles": []}, "secObj": db.security}
    return {"doc_filter": db.filter("/".join(unquote(p) for p in name.split("/")), req)}


async def changes(req):
    system_dbs.check_listing(req)
    q = ChangesQuery(req.db, req.query, await _post_body(req), req.headers)
    if q.feed == "normal":
        etag = opaque_etag(req.db.name, req.db.incarnation, req.db.update_seq)
        if etag_matches(req, etag):
            return Response(304, headers=[("ETag", etag)], content_type=None)
        return ChunkedResponse(await _started(_normal(req.db, q)), headers=[("ETag", etag)])
    if q.feed == "longpoll":
        return ChunkedResponse(_longpoll(req.db, q), request=req)
    if q.feed == "eventsource":
        return ChunkedResponse(_continuous(req.db, q, _event), content_type="text/event-stream",
                              headers=[("Cache-Control", "no-cache")], request=req)
    return ChunkedResponse(_continuous(req.db, q, _line), request=req)


async def _post_body(req):
    """A POST's JSON object (``{}`` when empty, as CouchDB's body-length check allows), or ``None`` for
    a GET. A POST must say JSON (415 otherwise), as ``chttpd_db:handle_changes_req/2`` checks first."""
    if req.method != "POST":
        return None
    if req.content_type != "application/json":
        raise BadContentType()
    raw = await req.body()
    body = loads(raw) if raw else {}
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


async def _pass(db, q, since, limit):
    """``(rows, FeedEnd)`` of one pass, the rows gathered (a longpoll decides on them before sending)."""
    rows = [item async for item in db.changes(since, limit=limit, **q.options)]
    return rows[:-1], rows[-1]


async def _started(chunks):
    """``chunks`` with its first one read already, so that an error before it (a filter function that
    throws on the first documents) is answered as an error, not inside a 200."""
    first = await chunks.__anext__()

    async def resumed():
        yield first
        async for chunk in chunks:
            yield chunk

    return resumed()


async def _normal(db, q):
    """One pass, streamed: rows are encoded and sent in chunks as they are found, never held whole."""
    chunk, separator = [b'{"results":[\n'], b""
    size = 0
    async for item in db.changes(q.since, limit=q.limit, **q.options):
        if isinstance(item, FeedEnd):
            end = item
            break
        encoded = separator + dumps(item)[:-1]
        separator = b",\n"
        chunk.append(encoded)
        size += len(encoded)
        if size >= CHUNK_SIZE:
            yield b"".join(chunk)
            chunk, size = [], 0
    yield b"".join(chunk)
    yield _results_end(end)


def _results_end(end):
    return b'\n],\n"last_seq":%d,"pending":%d}\n' % (end.last_seq, end.pending)


async def _longpoll(db, q):
    """Pass, and while nothing passed, wait and pass again. A pass that found nothing new keeps the
    ``pending`` of the one before (CouchDB reports its first pass's count when a wait times out)."""
    since, deadline, rows, pending = q.since, time.monotonic() + q.timeout, [], None
    while not db.closed:
        rows, end = await _pass(db, q, since, q.limit)
        if pending is None or rows or end.last_seq != since:
            pending = end.pending
        since = end.last_seq
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0 or q.descending:
            break
        if not await db.wait_for_change(since, min(remaining, q.heartbeat or remaining)):
            if q.heartbeat:
                yield b"\n"
    yield b'{"results":[\n' + b",\n".join(dumps(row)[:-1] for row in rows)
    yield _results_end(FeedEnd(since, 0 if db.closed else pending or 0))


def _line(row):
    return dumps(row)


def _event(row):
    return b"data: " + dumps(row)[:-1] + b"\nid: %d\n\n" % row["seq"]


async def _continuous(db, q, encode):
    """Pass, send, wait, until ``limit``, ``timeout``, the client or the database goes. The last line
    says where the feed got to, which without a single pass is where it starts."""
    end = (await _pass(db, q, q.since, 0))[1]
    since, sent = q.since, 0
    idle_since = time.monotonic()
    while (q.limit is None or sent < q.limit) and not db.closed:
        found = 0
        async for item in db.changes(since, limit=None if q.limit is None else q.limit - sent, **q.options):
            if isinstance(item, FeedEnd):
                end = item
            else:
                found += 1
                yield encode(item)
        since = end.last_seq
        sent += found
        if found:
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
        yield dumps({"last_seq": end.last_seq, "pending": 0 if db.closed else end.pending})
