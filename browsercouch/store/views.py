"""Map/reduce views: indexes kept in the database's SQLite file, built from the changes feed.

Theory of operation
-------------------
A design document's views are one index (``design.ViewGroup``), named by its signature: a hash of the
functions, the language, ``options`` and ``views.lib``. Changing any of those makes a new index; the old
one stays until ``_view_cleanup`` (``cleanup``), as in CouchDB.

1. Rows. A view row is ``(key, doc_id, value)``. It is stored under an ordering key: the bytes of
   ``mango.sort_key(key)`` (CouchDB's view collation, shared with Mango) encoded so that comparing bytes
   compares keys (``encode_key``). SQLite's B-tree then keeps every view in collation order, and key
   ranges are plain ``BETWEEN`` on bytes. Rows with equal keys are ordered by document id as raw bytes
   (``couch_mrview_util:less_json_ids/2``), then by the order the map function emitted them.
2. Updates. The index remembers the database sequence it has seen. Before a query (``update=true``)
   it reads the changes after that, maps the current winning revision of each changed document
   (deleted ones and, unless ``options.include_design``, design documents emit nothing), and replaces
   that document's rows; one SQLite transaction per batch. The map functions run in the injected
   JavaScript engine (``query_server``), a batch of documents per call, awaited: the next batches are
   mapped while one is written, and batches are written in order. A map function that throws for a
   document logs and emits nothing for it, as in CouchDB; a time-out fails the query.
3. Reduce. Reductions are computed at query time over the rows the query selects, group by group
   (``group``, ``group_level``): the built-ins (``_sum``, ``_count``, ``_stats``,
   ``_approx_count_distinct``) in Python, as ``couch_query_servers`` computes them, a JavaScript reduce
   in the engine, over chunks then re-reduced, as CouchDB reduces B-tree nodes.
"""

import asyncio
import bisect
import collections
import json

from ..errors import NotImplementedFeature, QueryServerError
from .mango import raw_key as erlang_order
from .mango import sort_key
from .mango_index import encode_number
from .mango_views import MangoQueryServer
from .query_server import MAP_CONTEXTS

__all__ = ["ViewIndex", "encode_key", "cleanup", "UNSET"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS view_indexes (
    id INTEGER PRIMARY KEY,
    signature TEXT UNIQUE NOT NULL,
    update_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS view_rows (
    ix INTEGER NOT NULL,
    view INTEGER NOT NULL,
    key BLOB NOT NULL,
    doc_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    key_json TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (ix, view, key, doc_id, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS view_rows_by_doc ON view_rows (ix, doc_id);
"""
GET_INDEX = "SELECT id, update_seq FROM view_indexes WHERE signature = :signature"
NEW_INDEX = "INSERT INTO view_indexes (signature, update_seq) VALUES (:signature, 0)"
SET_SEQ = "UPDATE view_indexes SET update_seq = :seq WHERE id = :ix"
DELETE_DOC_ROWS = "DELETE FROM view_rows WHERE ix = :ix AND doc_id = :doc_id"
PUT_ROW = """INSERT OR REPLACE INTO view_rows (ix, view, key, doc_id, n, key_json, value_json)
             VALUES (?, ?, ?, ?, ?, ?, ?)"""
SELECT_ROWS = """SELECT key, doc_id, key_json, value_json FROM view_rows
                 WHERE ix = :ix AND view = :view{where} ORDER BY key {order}, doc_id {order}, n
                 LIMIT :limit OFFSET :skip"""
ORDERED_KEYS = "SELECT key, doc_id FROM view_rows WHERE ix = :ix AND view = :view ORDER BY key, doc_id, n"
COUNT_GROUPS = """SELECT key, MIN(key_json), COUNT(*) FROM view_rows WHERE ix = :ix AND view = :view{where}
                  GROUP BY key ORDER BY key {order}"""
COUNT_ALL = "SELECT COUNT(*) FROM view_rows WHERE ix = :ix AND view = :view{where}"
ALL_INDEXES = "SELECT id, signature FROM view_indexes"
DROP_INDEX = "DELETE FROM view_indexes WHERE id = :ix"
DROP_INDEX_ROWS = "DELETE FROM view_rows WHERE ix = :ix"
INDEX_SIZE = """SELECT COUNT(*), COALESCE(SUM(length(key_json) + length(value_json)), 0)
                FROM view_rows WHERE ix = :ix"""

# Documents mapped per engine call (and per transaction): few enough that a batch stays well inside
# the time limit, enough that the call's own cost (~0.1 ms) is spread thin.
MAP_BATCH = 500
# A bound that was not given (``null`` is a key).
UNSET = object()

# Sorts after every document id, as CouchDB's <<255>> (no UTF-8 text starts with a byte that high).
AFTER_IDS = "\U0010ffff" * 4

_NUMBER, _STRING, _TUPLE, _END = 3, 4, 5, 1


def _encode(part, out):
    if isinstance(part, tuple):
        out.append(_TUPLE)
        for item in part:
            _encode(item, out)
        out.append(_END)
    elif isinstance(part, str):
        out.append(_STRING)
        out += part.encode("utf-8").replace(b"\x00", b"\x00\xff")
        out += b"\x00\x00"
    else:
        out.append(_NUMBER)
        out += encode_number(part)


# encode_key of a number key is this, the number's bytes, then _END (sort_key(n) is (3, n)).
_NUMBER_KEY = bytes([_TUPLE, _NUMBER]) + encode_number(3) + bytes([_NUMBER])


def encode_key(key):
    """Bytes that compare as ``key`` collates: the tuple ``sort_key(key)``, each number as an order-kept
    double, each string as UTF-8 ended by ``00 00``, each tuple ended by a byte below every element."""
    if type(key) is int or type(key) is float:  # the commonest keys, without building the tuple
        return _NUMBER_KEY + encode_number(key) + b"\x01"
    out = bytearray()
    _encode(sort_key(key), out)
    return bytes(out)


_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(value):
    """Compact JSON; ``null``, integers and strings (most keys and values) without the encoder."""
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    return _encode_json(value)


def ensure_schema(conn):
    conn.executescript(SCHEMA)


class ViewIndex:
    """The index of one design document's views in ``db`` (``db.view_index`` makes them)."""

    def __init__(self, db, storage, group, query_server, lock):
        self.db, self.storage, self.group = db, storage, group
        # As CouchDB: couchjs for JavaScript, mango_native_proc for "query" (Mango) views.
        self.query_server = MangoQueryServer() if group.language == "query" else query_server
        self._lock = lock
        self.conn = storage.conn
        row = self.conn.execute(GET_INDEX, {"signature": group.signature}).fetchone()
        self.ix, self.update_seq = row if row else (None, 0)
        # Per view, ``(update_seq, [(key_bytes, doc_id), ...])`` in index order: ``total_rows`` and
        # ``offset`` by bisection, where SQLite could only count rows one by one.
        self._order = {}

    # -- updating ----------------------------------------------------------------------------------

    async def update(self):
        """Bring the index up to the database's current sequence (one caller at a time).

        While one batch is written, the next ``MAP_CONTEXTS`` are in the engine (natively on other
        threads, each in its own isolate). Batches are written in seq order, each in its own transaction,
        and a batch's error is raised when its turn comes, so rows and errors are those of mapping one
        batch after another."""
        async with self._lock:
            self._reload()
            # After a build from scratch began, no document has rows until the build writes it; only one
            # changed since then can have some to delete.
            self._empty_until = self.db.update_seq if self.update_seq == 0 else 0
            ahead, seq = collections.deque(), self.update_seq
            try:
                while True:
                    while len(ahead) <= MAP_CONTEXTS and seq < self.db.update_seq:
                        batch = self._read_batch(seq)
                        seq = batch[0][-1][1] if batch else self.db.update_seq
                        if batch:
                            ahead.append(batch)
                    if not ahead:
                        break
                    changes, ids, mapped = ahead.popleft()
                    self._write_batch(changes, ids, await mapped)
                self.update_seq = seq
            finally:
                for _, _, mapped in ahead:
                    mapped.cancel()

    def _reload(self):
        row = self.conn.execute(GET_INDEX, {"signature": self.group.signature}).fetchone()
        if row is None:
            with self.storage.transaction():
                self.conn.execute(NEW_INDEX, {"signature": self.group.signature})
            row = self.conn.execute(GET_INDEX, {"signature": self.group.signature}).fetchone()
        self.ix, self.update_seq = row

    def _read_batch(self, seq):
        """``(changes, ids, mapped)`` of the next batch after ``seq``, its mapping started as a task;
        ``None`` when nothing changed after ``seq``."""
        local_seq = self.group.options.get("local_seq") is True
        changes = self.db.map_doc_texts(seq, MAP_BATCH, local_seq)
        if not changes:
            return None
        include_design = self.group.options.get("include_design") is True
        docs, ids = [], []
        for doc_id, _, text in changes:
            if text is not None and (include_design or not doc_id.startswith("_design/")):
                docs.append(text)
                ids.append(doc_id)
        mapped = asyncio.ensure_future(self._map(docs))
        mapped.add_done_callback(_retrieved)
        return changes, ids, mapped

    def _write_batch(self, changes, ids, results):
        with self.storage.transaction():
            stale = [{"ix": self.ix, "doc_id": doc_id}
                     for doc_id, seq, _ in changes if seq > self._empty_until]
            self.conn.executemany(DELETE_DOC_ROWS, stale)
            self.conn.executemany(PUT_ROW, self._rows(ids, results))
            self.conn.execute(SET_SEQ, {"ix": self.ix, "seq": changes[-1][1]})
        self.update_seq = changes[-1][1]

    async def _map(self, docs):
        if self.group.language not in ("javascript", "query"):
            raise QueryServerError(f"unknown query language: {self.group.language}",
                                   error="unknown_query_language")
        if self.query_server is None:
            raise NotImplementedFeature("Views need a JavaScript engine, and none was given")
        if not docs:
            return []
        sources = [view.map for view in self.group.views]
        return await self.query_server.map_docs(self.group.signature, self.group.lib, sources, docs)

    def _rows(self, ids, results):
        """A document's rows of each view; ``n`` orders those of one key as CouchDB does, by the Erlang
        term order of key and value (``couch_mrview_updater:insert_results/5`` sorts them), whichever
        the direction of a query."""
        ix = self.ix
        for doc_id, per_view in zip(ids, results, strict=True):
            for view, emitted in enumerate(per_view):
                if len(emitted) > 1:
                    emitted = sorted(emitted, key=lambda kv: (erlang_order(kv[0]), erlang_order(kv[1])))
                for n, (key, value) in enumerate(emitted):
                    yield ix, view, encode_key(key), doc_id, n, _dumps(key), _dumps(value)

    # -- reading -----------------------------------------------------------------------------------

    def rows(self, view, *, start=UNSET, end=UNSET, start_docid=None, end_docid=None, inclusive_end=True,
             descending=False, limit=None, skip=0):
        """Yield ``(key_bytes, doc_id, key_json, value_json)`` of one view's rows in a key range."""
        where, params = _range(start, end, start_docid, end_docid, inclusive_end, descending)
        params.update(ix=self.ix, view=view, limit=-1 if limit is None else limit, skip=skip)
        sql = SELECT_ROWS.format(where=where, order="DESC" if descending else "ASC")
        yield from self.conn.execute(sql, params)

    def counts(self, view, *, grouped, start=UNSET, end=UNSET, start_docid=None, end_docid=None,
               inclusive_end=True, descending=False):
        """``_count`` by SQLite: ``(key_json, count)`` per key (``grouped``), or ``(None, count)`` over
        the range, without reading the rows into Python."""
        where, params = _range(start, end, start_docid, end_docid, inclusive_end, descending)
        params.update(ix=self.ix, view=view)
        if not grouped:
            count = self.conn.execute(COUNT_ALL.format(where=where), params).fetchone()[0]
            return [(None, count)] if count else []
        sql = COUNT_GROUPS.format(where=where, order="DESC" if descending else "ASC")
        return [(key_json, count) for _, key_json, count in self.conn.execute(sql, params)]

    def _ordered(self, view):
        cached = self._order.get(view)
        if cached is None or cached[0] != self.update_seq:
            rows = self.conn.execute(ORDERED_KEYS, {"ix": self.ix, "view": view}).fetchall()
            cached = self._order[view] = (self.update_seq, rows)
        return cached[1]

    def total_rows(self, view):
        return len(self._ordered(view))

    def offset(self, view, start, start_docid, descending):
        """How many rows come before ``start`` in the query's direction (``offset`` of the answer)."""
        if start is UNSET:
            return 0
        rows, key = self._ordered(view), encode_key(start)
        if not descending:
            return bisect.bisect_left(rows, (key,) if start_docid is None else (key, start_docid))
        return len(rows) - bisect.bisect_right(rows, (key, AFTER_IDS if start_docid is None else start_docid))

    def info(self):
        """``view_index`` of ``GET /db/_design/D/_info``."""
        rows, size = (0, 0) if self.ix is None else self.conn.execute(INDEX_SIZE, {"ix": self.ix}).fetchone()
        pending = self.db.count_changes_after(self.update_seq)
        return {
            "updates_pending": {"minimum": pending, "preferred": pending, "total": pending},
            "waiting_commit": False,
            "waiting_clients": 0,
            "updater_running": self._lock.locked(),
            "update_seq": self.update_seq,
            "sizes": {"file": size, "external": size, "active": size},
            "signature": self.group.signature,
            "purge_seq": 0,
            "language": self.group.language,
            "compact_running": False,
        }


def _retrieved(task):
    """Mark a map task's error as seen: one left behind when an earlier batch failed is not reported."""
    if not task.cancelled():
        task.exception()


def _range(start, end, start_docid, end_docid, inclusive_end, descending):
    """The SQL conditions of a key range, as ``couch_mrview_util:key_opts/2`` bounds the B-tree fold."""
    where, params = "", {}
    low, high = (">", "<") if not descending else ("<", ">")
    if start is not UNSET:
        params["sk"] = encode_key(start)
        if start_docid is None:
            where += f" AND key {low}= :sk"
        else:
            params["skd"] = start_docid
            where += f" AND (key, doc_id) {low}= (:sk, :skd)"
    if end is not UNSET:
        params["ek"] = encode_key(end)
        eq = "=" if inclusive_end else ""
        if not inclusive_end and end_docid == "":
            end_docid = AFTER_IDS  # couch_mrview_util:reverse_key_default/1
        if end_docid is None:
            where += f" AND key {high}{eq} :ek"
        else:
            params["ekd"] = end_docid
            where += f" AND (key, doc_id) {high}{eq} (:ek, :ekd)"
    return where, params


def cleanup(storage, live_signatures):
    """Drop every index whose signature no design document has any more (``_view_cleanup``)."""
    ensure_schema(storage.conn)
    stale = [ix for ix, signature in storage.conn.execute(ALL_INDEXES) if signature not in live_signatures]
    if not stale:
        return
    with storage.transaction():
        for ix in stale:
            storage.conn.execute(DROP_INDEX_ROWS, {"ix": ix})
            storage.conn.execute(DROP_INDEX, {"ix": ix})
