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
from urllib.parse import unquote

from ..errors import BadContentType, BadRequest, NotFound
from ..store import revtree
from ..store.mango import compile_selector
from . import system_dbs
from .messages import Response, StreamResponse, dumps, etag_matches, loads, opaque_etag

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
# couch_changes:doc_ids_limit/0 ([couchdb] changes_doc_ids_optimization_threshold): up to this many doc
# ids, CouchDB looks the documents up instead of reading every change, which shows in `pending`.
DOC_IDS_FAST_PATH = 100


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
        self.all_leaves = query.get("style", "main_only") == "all_docs"
        self.include_docs = _flag(query, "include_docs")
        self.doc_options = {name: _flag(query, name) for name in ("conflicts", "attachments")}
        self.timeout = min(query.int("timeout", DEFAULT_TIMEOUT_MS), MAX_WAIT_MS) / 1000
        self.heartbeat = _parse_heartbeat(query.get("heartbeat"))
        _check_seq_interval(query.get("seq_interval"))
        self.accept, self.visits_matches_only = _make_filter(db, query, body)


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


def _make_filter(db, query, body):
    """``(accept, visits_matches_only)``: a predicate ``accept(doc_id, tree) -> bool`` for the ``filter``
    parameter, or ``None``; and whether CouchDB would visit only the matching documents
    (``couch_changes:send_changes_doc_ids/6``, ``send_changes_design_docs/6``: for ``_design``, and for up
    to ``DOC_IDS_FAST_PATH`` doc ids), so counting as pending every change since ``since`` not sent."""
    name = query.get("filter", "")
    if name == "":
        return None, False
    if name == "_doc_ids":
        doc_ids = query.json("doc_ids") if body is None else body.get("doc_ids")
        if not isinstance(doc_ids, list) or not all(isinstance(i, str) for i in doc_ids):
            # couch_changes: every element must be a string too.
            raise BadRequest("`doc_ids` filter parameter is not a list of doc ids.")
        wanted = set(doc_ids)
        return (lambda doc_id, tree: doc_id in wanted), len(doc_ids) <= DOC_IDS_FAST_PATH
    if name == "_selector":
        return _selector_filter(db, body), False
    if name == "_design":
        return (lambda doc_id, tree: doc_id.startswith("_design/")), True
    if name.startswith("_"):
        raise BadRequest("unknown builtin filter name")
    _check_design_filter(db, name)
    raise BadRequest(f"Filter `{name}` is not supported: JavaScript filter functions are not available")


def _selector_filter(db, body):
    if body is None:
        raise BadRequest("Selector must be specified in POST payload")
    selector = body.get("selector")
    if not isinstance(selector, dict):
        raise BadRequest("Selector error: expected a JSON object")
    matches = compile_selector(selector)
    return lambda doc_id, tree: _selector_accepts(db, matches, doc_id, tree)


def _check_design_filter(db, name):
    """Raise as CouchDB does for a ``ddoc/filter`` name before it would run the filter
    (``couch_changes:configure_filter/4``): 400 unless two parts, 404 for a missing design document or
    a design document without that filter."""
    parts = [unquote(part) for part in name.split("/") if part]
    if len(parts) != 2:
        raise BadRequest("`filter` must be of the form `designname/filtername`")
    ddoc = db.get("_design/" + parts[0])
    filters = ddoc.get("filters")
    if not isinstance(filters, dict):
        raise NotFound("missing json key: filters")
    if parts[1] not in filters:
        raise NotFound("missing json key: " + parts[1])


def _selector_accepts(db, matches, doc_id, tree):
    doc = db.doc_at(doc_id, tree)
    return doc is not None and matches(doc)


async def changes(req):
    system_dbs.check_listing(req)
    q = ChangesQuery(req.db, req.query, await _post_body(req), req.headers)
    if q.feed == "normal":
        etag = opaque_etag(req.db.name, req.db.instance_start_time, req.db.update_seq)
        if etag_matches(req, etag):
            return Response(304, headers=[("ETag", etag)], content_type=None)
        return StreamResponse(_normal(req.db, q), headers=[("ETag", etag)])
    if q.feed == "longpoll":
        return StreamResponse(_longpoll(req.db, q), request=req)
    if q.feed == "eventsource":
        return StreamResponse(_continuous(req.db, q, _event), content_type="text/event-stream",
                              headers=[("Cache-Control", "no-cache")], request=req)
    return StreamResponse(_continuous(req.db, q, _line), request=req)


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
    """Rows after ``since`` that pass the filter, at most ``limit``; returns ``(rows, last_seq,
    pending)``, as CouchDB's (``fabric_rpc:changes/4``) would be:

    - a descending feed starts from the newest change, and a ``limit`` of 0 reads nothing, so then
      ``last_seq`` is where the feed starts, filtered or not;
    - ``pending`` is the changes from the start onwards (all of them when descending) less those the
      feed walked: every change it read, or only the ones it sent where CouchDB visits the matching
      documents alone (``q.visits_matches_only``); walking those newest first, ``last_seq`` moves
      with the rows sent only.
    """
    rows, last_seq, walked = [], db.update_seq if q.descending else since, 0
    ahead = db.storage.count_after_seq(0 if q.descending else since)
    if limit == 0:
        return rows, last_seq, ahead
    for doc_id, seq, winner, deleted, tree in db.changes(since, descending=q.descending,
                                                         limit=None if q.accept else limit):
        accepted = q.accept is None or q.accept(doc_id, tree)
        if accepted or not q.visits_matches_only:
            walked += 1
        if accepted or not (q.visits_matches_only and q.descending):
            last_seq = seq
        if accepted:
            rows.append(_row(db, q, doc_id, seq, winner, deleted, tree))
            if limit is not None and len(rows) >= limit:
                break
    return rows, last_seq, ahead - walked


async def _normal(db, q):
    for chunk in _results_body(db, *_scan(db, q, q.since, q.limit)):
        yield chunk


def _results_body(db, rows, last_seq, pending):
    yield b'{"results":[\n'
    yield b",\n".join(dumps(row)[:-1] for row in rows)
    yield b'\n],\n"last_seq":%d,"pending":%d}\n' % (last_seq, 0 if db.closed else pending)


async def _longpoll(db, q):
    """Scan, and while nothing passed, wait and scan again. A scan that found nothing new keeps the
    ``pending`` of the one before (CouchDB reports its first pass's count when a wait times out)."""
    since, deadline, rows, pending = q.since, time.monotonic() + q.timeout, [], None
    while not db.closed:
        rows, last_seq, ahead = _scan(db, q, since, q.limit)
        if pending is None or rows or last_seq != since:
            pending = ahead
        since = last_seq
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0 or q.descending:
            break
        if not await db.wait_for_change(since, min(remaining, q.heartbeat or remaining)):
            if q.heartbeat:
                yield b"\n"
    for chunk in _results_body(db, rows, since, pending or 0):
        yield chunk


def _line(row):
    return dumps(row)


def _event(row):
    return b"data: " + dumps(row)[:-1] + b"\nid: %d\n\n" % row["seq"]


async def _continuous(db, q, encode):
    """Scan, send, wait, until ``limit``, ``timeout``, the client or the database goes. The last line
    says where the feed got to, which without a single scan is where it starts (``_scan``)."""
    _, last_seq, pending = _scan(db, q, q.since, 0)
    since, sent = q.since, 0
    idle_since = time.monotonic()
    while (q.limit is None or sent < q.limit) and not db.closed:
        rows, last_seq, pending = _scan(db, q, since, None if q.limit is None else q.limit - sent)
        since = last_seq
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
        yield dumps({"last_seq": last_seq, "pending": 0 if db.closed else pending})
