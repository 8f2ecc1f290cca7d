"""SQLite storage for one database: the schema and every statement, and nothing else.

This layer is deliberately dumb (as chairdb's backends): it stores revision trees by document id and by
sequence, revision bodies, attachment blobs by digest, ``_local`` documents and a few settings. All
document rules live above it in ``database.py``.

A large attachment uploaded on its own (``PUT /db/doc/att``) is stored as it arrives, in parts committed
one by one (``uploads.py``), and only linked to its digest once complete: ``streamed_attachments`` maps
the digest to the upload whose ``attachment_parts`` hold the bytes. Parts of an upload that was never
linked (the server stopped mid-upload) are dropped when the file is next opened.

One database is one SQLite file (or ``:memory:``), opened with the stdlib ``sqlite3`` module, which is
also what Pyodide ships. No threads, no pools: every call runs to completion on the caller's thread.
A write is one transaction (``with storage.transaction():``) and is committed, with the WAL synced
(``synchronous=FULL``), before the caller answers its client.

In the browser the file lives in Emscripten's in-memory file system, and the page saves what changed in
it to OPFS or IndexedDB (``browsercouch/tab/persist.py``): ``snapshots=True`` keeps SQLite's journal
in memory and skips syncs, and ``on_commit`` tells the persister that the file changed. Every transaction
runs to completion without yielding to the event loop, so a save taken between two event-loop steps is
always consistent.
"""

import json
import sqlite3
from contextlib import contextmanager
from typing import NamedTuple

from ..errors import NotFound

__all__ = ["Storage", "DocRow", "LocalRow"]


class DocRow(NamedTuple):
    """A document's row: the seq of its last change, its winning revision, whether that is deleted (0 or
    1), and its whole revision tree as JSON."""

    seq: int
    winner: str
    deleted: int
    tree_json: str


class LocalRow(NamedTuple):
    """A ``_local`` document's row: its revision number and its body as JSON."""

    rev: int
    body_json: str

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    winner TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    tree TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS docs_by_seq ON docs (seq);
CREATE TABLE IF NOT EXISTS revs (
    doc_id TEXT NOT NULL,
    rev TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (doc_id, rev)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attachments (
    digest TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streamed_attachments (
    digest TEXT PRIMARY KEY,
    upload INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attachment_parts (
    upload INTEGER NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (upload, part)
);
CREATE TABLE IF NOT EXISTS local_docs (
    id TEXT PRIMARY KEY,
    rev INTEGER NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
"""

# WAL keeps readers off the writer's back; FULL syncs the WAL on every commit, so an acknowledged write
# survives a crash of the process and of the machine (CouchDB 3.x fsyncs every commit too).
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=OFF")
MEMORY_PRAGMAS = ("PRAGMA journal_mode=MEMORY", "PRAGMA synchronous=OFF")

GET_META = "SELECT value FROM meta WHERE key = :key"
PUT_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (:key, :value)"

GET_DOC = "SELECT seq, winner, deleted, tree FROM docs WHERE id = :id"
GET_DOCS = "SELECT id, seq, winner, deleted, tree FROM docs WHERE id IN ({marks})"
PUT_DOC = """INSERT OR REPLACE INTO docs (id, seq, winner, deleted, tree)
             VALUES (:id, :seq, :winner, :deleted, :tree)"""
MAX_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM docs"
COUNT_DOCS = "SELECT deleted, COUNT(*) FROM docs GROUP BY deleted"

GET_REV = "SELECT body FROM revs WHERE doc_id = :id AND rev = :rev"
PUT_REV = "INSERT OR IGNORE INTO revs (doc_id, rev, body) VALUES (:id, :rev, :body)"
LIST_REVS = "SELECT rev FROM revs WHERE doc_id = :id"
DELETE_REV = "DELETE FROM revs WHERE doc_id = :id AND rev = :rev"

GET_ATT = "SELECT data FROM attachments WHERE digest = :digest"
ATT_HEAD = "SELECT substr(data, 1, :n), length(data) FROM attachments WHERE digest = :digest"
STREAMED_HEAD = """SELECT (SELECT substr(data, 1, :n) FROM attachment_parts
                           WHERE upload = s.upload AND part = 0),
                          (SELECT SUM(length(data)) FROM attachment_parts WHERE upload = s.upload)
                   FROM streamed_attachments AS s WHERE digest = :digest"""
HAS_ATT = """SELECT 1 FROM attachments WHERE digest = :digest
             UNION ALL SELECT 1 FROM streamed_attachments WHERE digest = :digest"""
PUT_ATT = """INSERT OR IGNORE INTO attachments (digest, data) SELECT :digest, :data
             WHERE NOT EXISTS (SELECT 1 FROM streamed_attachments WHERE digest = :digest)"""
LIST_ATTS = "SELECT digest FROM attachments UNION SELECT digest FROM streamed_attachments"
DELETE_ATT = "DELETE FROM attachments WHERE digest = :digest"

GET_STREAMED = "SELECT upload FROM streamed_attachments WHERE digest = :digest"
LINK_UPLOAD = "INSERT INTO streamed_attachments (digest, upload) VALUES (:digest, :upload)"
UNLINK_UPLOAD = "DELETE FROM streamed_attachments WHERE digest = :digest"
GET_PARTS = "SELECT data FROM attachment_parts WHERE upload = :upload ORDER BY part"
PUT_PART = "INSERT INTO attachment_parts (upload, part, data) VALUES (:upload, :part, :data)"
DELETE_PARTS = "DELETE FROM attachment_parts WHERE upload = :upload"
LAST_UPLOAD = "SELECT COALESCE(MAX(upload), 0) FROM attachment_parts"
DELETE_UNLINKED_PARTS = """DELETE FROM attachment_parts
                           WHERE upload NOT IN (SELECT upload FROM streamed_attachments)"""
ALL_REV_BODIES = "SELECT doc_id, rev, body FROM revs"
ALL_TREES = "SELECT id, tree FROM docs"

GET_LOCAL = "SELECT rev, body FROM local_docs WHERE id = :id"
PUT_LOCAL = "INSERT OR REPLACE INTO local_docs (id, rev, body) VALUES (:id, :rev, :body)"
DELETE_LOCAL = "DELETE FROM local_docs WHERE id = :id"
LIST_LOCAL = "SELECT id, rev FROM local_docs ORDER BY id"

CHANGES_ASC = """SELECT id, seq, winner, deleted, tree FROM docs
                 WHERE seq > :since ORDER BY seq LIMIT :limit"""
CHANGES_DESC = """SELECT id, seq, winner, deleted, tree FROM docs
                  WHERE seq < :since ORDER BY seq DESC LIMIT :limit"""

ALL_DOCS = ("SELECT id, winner FROM docs WHERE deleted = 0{where} "
            "ORDER BY id {order} LIMIT :limit OFFSET :skip")
COUNT_BEFORE = {
    False: "SELECT COUNT(*) FROM docs WHERE deleted = 0 AND id < :start",
    True: "SELECT COUNT(*) FROM docs WHERE deleted = 0 AND id > :start",
}
COUNT_AFTER_SEQ = "SELECT COUNT(*) FROM docs WHERE seq > :since"
# (descending, inclusive_end) -> the bounds on id for start_key and end_key.
ALL_DOCS_START = {False: " AND id >= :start", True: " AND id <= :start"}
ALL_DOCS_END = {
    (False, True): " AND id <= :end", (False, False): " AND id < :end",
    (True, True): " AND id >= :end", (True, False): " AND id > :end",
}
# Winning revisions with their bodies, a page at a time (Mango scans and index updates read thousands).
WINNERS = ("SELECT id, winner, body FROM docs JOIN revs ON revs.doc_id = docs.id AND revs.rev = docs.winner "
           "WHERE deleted = 0{where} ORDER BY id {order} LIMIT :limit")
# (descending, resuming) -> the bound on id where a page of WINNERS starts.
WINNERS_FROM = {(False, False): " AND id >= :start", (True, False): " AND id <= :start",
                (False, True): " AND id > :start", (True, True): " AND id < :start"}
WINNERS_TO = {False: " AND id <= :end", True: " AND id >= :end"}
CHANGED_WINNERS = """SELECT id, seq, deleted, winner, body FROM docs
                     LEFT JOIN revs ON revs.doc_id = docs.id AND revs.rev = docs.winner
                     WHERE seq > :since ORDER BY seq LIMIT :limit"""


def _nothing():
    pass


class Storage:
    """One database's SQLite file. ``path`` is a file path or ``":memory:"``; ``on_commit()`` is called
    after every change to the file, ``snapshots`` as in the module docstring."""

    def __init__(self, path, *, snapshots=False, on_commit=None):
        self.path = path
        self.on_commit = on_commit or _nothing
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.closed = False
        for pragma in MEMORY_PRAGMAS if snapshots or path == ":memory:" else PRAGMAS:
            self.conn.execute(pragma)
        self.conn.executescript(SCHEMA)
        self._last_upload = self.conn.execute(LAST_UPLOAD).fetchone()[0]
        self._drop_unlinked_parts()

    def _drop_unlinked_parts(self):
        """The parts of uploads cut short by a stop (only at open: later, an upload may be in progress)."""
        changes = self.conn.total_changes
        self.conn.execute(DELETE_UNLINKED_PARTS)
        if self.conn.total_changes != changes:
            self.on_commit()

    def close(self):
        self.closed = True
        self.conn.close()

    @contextmanager
    def transaction(self):
        """One write transaction: committed on normal exit, rolled back on an exception.

        A failed ``COMMIT`` (a full disk, a deferred constraint) is rolled back too: SQLite may leave the
        transaction open then, and every later ``BEGIN`` on this connection would fail.
        """
        if self.closed:  # deleted while a request was still reading its body
            raise NotFound("Database does not exist.")
        changes = self.conn.total_changes
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        if self.conn.total_changes != changes:  # a refused write (a conflict) commits nothing to save
            self.on_commit()

    def get_meta(self, key, default=None):
        row = self.conn.execute(GET_META, {"key": key}).fetchone()
        return json.loads(row[0]) if row else default

    def put_meta(self, key, value):
        self.conn.execute(PUT_META, {"key": key, "value": json.dumps(value)})

    def get_doc(self, doc_id):
        """The ``DocRow`` of ``doc_id``, or ``None``."""
        row = self.conn.execute(GET_DOC, {"id": doc_id}).fetchone()
        return None if row is None else DocRow(*row)

    def get_docs(self, doc_ids):
        """``{id: DocRow}`` for those of ``doc_ids`` that exist."""
        found = {}
        ids = list(doc_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            sql = GET_DOCS.format(marks=",".join("?" * len(chunk)))
            for doc_id, *rest in self.conn.execute(sql, chunk):
                found[doc_id] = DocRow(*rest)
        return found

    def put_doc(self, doc_id, seq, winner, deleted, tree_json):
        self.conn.execute(PUT_DOC, {"id": doc_id, "seq": seq, "winner": winner, "deleted": int(deleted),
                                    "tree": tree_json})

    def max_seq(self):
        return self.conn.execute(MAX_SEQ).fetchone()[0]

    def count_docs(self):
        """``(doc_count, doc_del_count)``."""
        counts = dict(self.conn.execute(COUNT_DOCS).fetchall())
        return counts.get(0, 0), counts.get(1, 0)

    def get_rev(self, doc_id, rev):
        row = self.conn.execute(GET_REV, {"id": doc_id, "rev": rev}).fetchone()
        return row[0] if row else None

    def put_rev(self, doc_id, rev, body_json):
        self.conn.execute(PUT_REV, {"id": doc_id, "rev": rev, "body": body_json})

    def list_revs(self, doc_id):
        return [row[0] for row in self.conn.execute(LIST_REVS, {"id": doc_id})]

    def delete_rev(self, doc_id, rev):
        self.conn.execute(DELETE_REV, {"id": doc_id, "rev": rev})

    def get_attachment(self, digest):
        row = self.conn.execute(GET_ATT, {"digest": digest}).fetchone()
        if row is not None:
            return row[0]
        row = self.conn.execute(GET_STREAMED, {"digest": digest}).fetchone()
        if row is None:
            return None
        return b"".join(part for part, in self.conn.execute(GET_PARTS, {"upload": row[0]}))

    def attachment_head(self, digest, n=2):
        """``(first n bytes, size)`` of the attachment ``digest``, or ``(None, None)``."""
        for sql in (ATT_HEAD, STREAMED_HEAD):
            row = self.conn.execute(sql, {"digest": digest, "n": n}).fetchone()
            if row is not None:
                return row[0], row[1]
        return None, None

    def has_attachment(self, digest):
        return self.conn.execute(HAS_ATT, {"digest": digest}).fetchone() is not None

    def put_attachment(self, digest, data):
        self.conn.execute(PUT_ATT, {"digest": digest, "data": data})

    def list_attachments(self):
        return [row[0] for row in self.conn.execute(LIST_ATTS)]

    def delete_attachment(self, digest):
        self.conn.execute(DELETE_ATT, {"digest": digest})
        row = self.conn.execute(GET_STREAMED, {"digest": digest}).fetchone()
        if row is not None:
            self.conn.execute(UNLINK_UPLOAD, {"digest": digest})
            self.delete_parts(row[0])

    def new_upload(self):
        """A number for a new upload's parts, unique in this file."""
        self._last_upload += 1
        return self._last_upload

    def put_part(self, upload, part, data):
        self.conn.execute(PUT_PART, {"upload": upload, "part": part, "data": data})

    def delete_parts(self, upload):
        self.conn.execute(DELETE_PARTS, {"upload": upload})

    def link_upload(self, digest, upload):
        """Make ``upload``'s parts the attachment ``digest``; if those bytes are stored already, drop
        the parts instead."""
        if self.has_attachment(digest):
            self.delete_parts(upload)
        else:
            self.conn.execute(LINK_UPLOAD, {"digest": digest, "upload": upload})

    def all_rev_bodies(self):
        return self.conn.execute(ALL_REV_BODIES)

    def all_trees(self):
        return self.conn.execute(ALL_TREES)

    def get_local(self, doc_id):
        """The ``LocalRow`` of ``doc_id``, or ``None``."""
        row = self.conn.execute(GET_LOCAL, {"id": doc_id}).fetchone()
        return None if row is None else LocalRow(*row)

    def put_local(self, doc_id, rev, body_json):
        self.conn.execute(PUT_LOCAL, {"id": doc_id, "rev": rev, "body": body_json})

    def delete_local(self, doc_id):
        self.conn.execute(DELETE_LOCAL, {"id": doc_id})

    def changes(self, since, limit, descending=False):
        """Rows ``(id, seq, winner, deleted, tree_json)`` after ``since`` in seq order."""
        sql = CHANGES_DESC if descending else CHANGES_ASC
        return self.conn.execute(sql, {"since": since, "limit": limit}).fetchall()

    def all_docs(self, start, end, descending, inclusive_end, limit, skip):
        """Rows ``(id, winner)`` of live documents from ``start`` to ``end`` (either may be ``None``)."""
        where = ALL_DOCS_START[descending] if start is not None else ""
        where += ALL_DOCS_END[descending, inclusive_end] if end is not None else ""
        sql = ALL_DOCS.format(where=where, order="DESC" if descending else "ASC")
        return self.conn.execute(sql, {"start": start, "end": end, "limit": limit, "skip": skip}).fetchall()

    def winners(self, start, end, descending, limit, resuming=False):
        """Rows ``(id, winner, body_json)`` of live documents from ``start`` (after it when ``resuming``)
        to ``end``, inclusive; either may be ``None``."""
        where = WINNERS_FROM[descending, resuming] if start is not None else ""
        where += WINNERS_TO[descending] if end is not None else ""
        sql = WINNERS.format(where=where, order="DESC" if descending else "ASC")
        return self.conn.execute(sql, {"start": start, "end": end, "limit": limit}).fetchall()

    def changed_winners(self, since, limit):
        """Rows ``(id, seq, deleted, winner, body_json)`` changed after ``since``, in seq order; the body
        of the winning revision (``None`` if it is not stored)."""
        return self.conn.execute(CHANGED_WINNERS, {"since": since, "limit": limit}).fetchall()

    def count_before(self, start, descending):
        """How many live documents sort before ``start`` (the ``offset`` of ``_all_docs``)."""
        if start is None:
            return 0
        return self.conn.execute(COUNT_BEFORE[descending], {"start": start}).fetchone()[0]

    def count_after_seq(self, since):
        return self.conn.execute(COUNT_AFTER_SEQ, {"since": since}).fetchone()[0]

    def list_local(self):
        return self.conn.execute(LIST_LOCAL).fetchall()

    def file_size(self):
        """Bytes in the database file (``PRAGMA page_count`` pages)."""
        page_count = self.conn.execute("PRAGMA page_count").fetchone()[0]
        return page_count * self.conn.execute("PRAGMA page_size").fetchone()[0]

    def vacuum(self):
        self.conn.execute("VACUUM")
        self.on_commit()
