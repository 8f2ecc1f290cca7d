"""One CouchDB database: documents, revisions, attachments, changes and ``_local`` documents.

The document rules live here, once, over the dumb ``Storage`` below (chairdb's split):

* Interactive edits (``new_edits=true``) must name a current leaf in ``_rev``, else ``409 conflict``; a
  new document takes no ``_rev``, and a deleted one only a live edit without ``_rev``, which extends the
  deleted winner. The new revision is ``pos+1`` with a deterministic hash.
* Replicated edits (``new_edits=false``) merge the given ``_revisions`` path into the tree; a revision
  already known changes nothing and bumps no sequence.
* Attachment stubs must exist on the parent revision (``412 missing_stub``); inline data is stored once
  per digest.
* ``_local/*`` documents are unversioned (``0-N``), never in ``_changes`` or ``_all_docs``.

Every write is one SQLite transaction, committed before the method returns, so a caller that answers its
client after the return never acknowledges a write that could be lost. Reads never block; the only async
method waits for the next change (``wait_for_change``), for long-poll and continuous feeds.
"""

import asyncio
import base64
import json
import time
import uuid
from typing import NamedTuple

from ..errors import (
    BadRequest,
    Conflict,
    CouchError,
    DocValidation,
    MissingStub,
    NotFound,
    NotImplementedFeature,
    TooLarge,
)
from . import design, find, mango_index, revtree, views
from .changes import feed
from .documents import (
    compact_json,
    decode_attachment_data,
    new_rev_hash,
    parse_rev_or_400,
    split_doc,
    validate_attachment_name,
    validate_doc_id,
)
from .encodings import GZIP, Body, decode, encode, is_compressible, received_body
from .revtree import format_rev, parse_rev
from .uploads import AttachmentUpload

__all__ = ["Database", "ChangeRow", "DEFAULT_MAX_DOCUMENT_SIZE"]

# CouchDB 3.x [couchdb] max_document_size: 8 MB of JSON body, attachments not counted.
DEFAULT_MAX_DOCUMENT_SIZE = 8_000_000
# couch_att: an attachment sent without a content type.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# The first two bytes of every gzip stream (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"
# Rows read from SQLite per step while streaming _changes and _all_docs.
PAGE_SIZE = 500
# CouchDB's maximum revs_limit is not enforced; anything below 1 is refused.
MIN_REVS_LIMIT = 1
# CouchDB 3.x answers "0" (clustered databases have no single start time); its replicator only checks
# that the member is there.
INSTANCE_START_TIME = "0"


class ChangeRow(NamedTuple):
    """A document as the changes feed finds it: its latest change and its revision tree."""

    doc_id: str
    seq: int
    winner: str
    deleted: bool
    tree: dict


class _Incoming(NamedTuple):
    """A document of a write, checked: its id, special members, body, and, for a replicated edit, the
    revision path it brings (parsed once)."""

    doc_id: str
    meta: dict
    body: dict
    path: list | None


class _Edit:
    """One document's pending state inside a write transaction."""

    __slots__ = ("doc_id", "tree", "was_deleted", "changed")

    def __init__(self, doc_id, tree, was_deleted):
        self.doc_id, self.tree, self.was_deleted, self.changed = doc_id, tree, was_deleted, False


class Database:
    """A database over one ``Storage``. Create through ``Couch``; ``name`` is for ``info()``."""

    def __init__(self, name, storage, *, max_document_size=DEFAULT_MAX_DOCUMENT_SIZE, query_server=None):
        self.name = name
        self._storage = storage
        self.max_document_size = max_document_size
        # Tells this opening of the database from an earlier one of the same name (a deleted and
        # recreated database must not match an old ETag).
        self.incarnation = str(int(time.time() * 1_000_000))
        # Runs design functions (``query_server.QueryServer``); ``None`` when no JavaScript engine was given.
        self.query_server = query_server
        self._validators = None
        self._view_locks = {}
        self._view_indexes = {}
        self.update_seq = storage.max_seq()
        self.doc_count, self.doc_del_count = storage.count_docs()
        self.revs_limit = storage.get_meta("revs_limit", revtree.DEFAULT_REVS_LIMIT)
        self.security = storage.get_meta("security", {})
        self._waiters = []
        self._index_rows = None
        self.closed = False

    # -- info and settings -------------------------------------------------------------------------

    def info(self):
        """The ``GET /db`` body, CouchDB 3.x shape."""
        return {
            "db_name": self.name,
            "update_seq": self.update_seq,
            "purge_seq": 0,
            "doc_count": self.doc_count,
            "doc_del_count": self.doc_del_count,
            "sizes": {"file": self._file_size(), "external": 0, "active": 0},
            "disk_format_version": 8,
            "compact_running": False,
            "cluster": {"q": 1, "n": 1, "w": 1, "r": 1},
            "instance_start_time": INSTANCE_START_TIME,
            "props": {},
        }

    def ensure_full_commit(self):
        """``_ensure_full_commit``'s answer: every write is committed before it is acknowledged (in the
        browser, ``Couch.ensure_full_commit`` first waits for the page to save them)."""
        return {"ok": True, "instance_start_time": INSTANCE_START_TIME}

    def _file_size(self):
        return self._storage.file_size()

    def set_revs_limit(self, limit):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < MIN_REVS_LIMIT:
            raise BadRequest("`revs_limit` must be a positive integer")
        with self._storage.transaction():
            self._storage.put_meta("revs_limit", limit)
        self.revs_limit = limit

    def set_security(self, security):
        with self._storage.transaction():
            self._storage.put_meta("security", security)
        self.security = security

    # -- reading documents --------------------------------------------------------------------------

    def _load_tree(self, doc_id):
        row = self._storage.get_doc(doc_id)
        if row is None:
            raise NotFound("missing")
        return row.seq, revtree.tree_from_json(json.loads(row.tree_json))

    def _load_body(self, doc_id, rev):
        body = self._storage.get_rev(doc_id, format_rev(rev))
        return None if body is None else json.loads(body)

    def get(self, doc_id, rev=None, **options):
        """The document ``doc_id`` at ``rev`` (the winner if ``None``) as a JSON-able dict.

        ``options`` are the ``GET /db/doc`` query flags: ``revs``, ``revs_info``, ``conflicts``,
        ``deleted_conflicts``, ``attachments``, ``atts_since`` (list of rev strings), ``local_seq``,
        ``latest``, ``meta``, ``att_encoding_info``. Raises ``NotFound("missing")`` or
        ``NotFound("deleted")``.
        """
        if doc_id.startswith("_local/"):
            return self.get_local(doc_id)
        return self.get_related(doc_id, rev, **options)[0]

    def get_related(self, doc_id, rev=None, *, follows=False, **options):
        """``(doc, bodies)``: ``get()``, but with ``follows`` the attachments it would inline are
        ``"follows": true`` stubs instead, and ``bodies`` lists their ``(name, content_type, bytes)``
        as stored (gzip-encoded ones stay encoded): the parts of a ``multipart/related`` answer."""
        seq, tree = self._load_tree(doc_id)
        if rev is None:
            rev = revtree.winning_rev(tree)
            if tree[rev].deleted:
                raise NotFound("deleted")
        elif options.get("latest"):
            # chttpd_db: "couch_doc_open will open the winning rev despite of a rev passed"
            parse_rev_or_400(rev)
            rev = revtree.winning_rev(tree)
        else:
            rev = parse_rev_or_400(rev)
        return self._render(doc_id, tree, rev, seq, options, follows)

    def _render(self, doc_id, tree, rev, seq, options, follows=False):
        """``(doc, bodies)`` of revision ``rev``; ``bodies`` as ``get_related`` says."""
        body = self._load_body(doc_id, rev) if rev in tree else None
        if body is None:
            raise NotFound("missing")
        doc = {"_id": doc_id, "_rev": format_rev(rev)}
        if tree[rev].deleted:
            doc["_deleted"] = True
        attachments = body.pop("_attachments", None)
        doc.update(body)
        self._add_meta(doc, tree, rev, seq, options)
        bodies = []
        if attachments:
            doc["_attachments"] = self._render_attachments(tree, rev, attachments, options, follows, bodies)
        return doc, bodies

    def _add_meta(self, doc, tree, rev, seq, options):
        meta = options.get("meta")
        if options.get("revs"):
            path = revtree.path_to(tree, rev)
            doc["_revisions"] = {"start": rev[0], "ids": [digest for _, digest in path]}
        if options.get("revs_info") or meta:
            doc["_revs_info"] = [
                {"rev": format_rev(r), "status": self._rev_status(doc["_id"], tree, r)}
                for r in revtree.path_to(tree, rev)
            ]
        if options.get("conflicts") or meta:
            conflicts = revtree.collect_conflicts(tree)
            if conflicts and rev == revtree.winning_rev(tree):
                doc["_conflicts"] = [format_rev(r) for r in conflicts]
        if options.get("deleted_conflicts") or meta:
            deleted = revtree.collect_deleted_conflicts(tree)
            if deleted and rev == revtree.winning_rev(tree):
                doc["_deleted_conflicts"] = [format_rev(r) for r in deleted]
        if options.get("local_seq"):
            doc["_local_seq"] = seq

    def _rev_status(self, doc_id, tree, rev):
        if tree[rev].deleted:
            return "deleted"
        return "available" if self._storage.get_rev(doc_id, format_rev(rev)) is not None else "missing"

    def _render_attachments(self, tree, rev, attachments, options, follows, bodies):
        """Stubs, or the data of every attachment with ``attachments`` or ``atts_since``, except those
        ``atts_since`` says the client has (``couch_db:open_doc_int/3``): inline, decoded and in base64
        (``couch_att:to_json/4``), or following the document (``follows``, appended to ``bodies``)."""
        since_pos = self._atts_since_pos(tree, rev, options.get("atts_since"))
        with_data = options.get("attachments") or since_pos is not None
        show_encoding = options.get("att_encoding_info") or follows
        rendered = {}
        for name, att in attachments.items():
            out = {"content_type": att["content_type"], "revpos": att["revpos"], "digest": att["digest"]}
            if not with_data or (since_pos is not None and att["revpos"] <= since_pos):
                out.update(length=att["length"], stub=True)
            elif follows:
                out.update(length=att["length"], follows=True)
                bodies.append((name, att["content_type"], self._stored_bytes(att)))
            else:
                out["data"] = _b64(decode(att.get("encoding"), self._stored_bytes(att)))
            if show_encoding and att.get("encoding"):
                out.update(encoding=att["encoding"], encoded_length=att["encoded_length"])
            rendered[name] = out
        return rendered

    def _stored_bytes(self, att):
        return self._storage.get_attachment(att["digest"]) or b""

    @staticmethod
    def _atts_since_pos(tree, rev, atts_since):
        """The newest generation among ``atts_since`` that is an ancestor of ``rev`` (0 if none)."""
        if atts_since is None:
            return None
        ancestors = set(revtree.path_to(tree, rev))
        known = [parse_rev_or_400(r) for r in atts_since]
        return max((r[0] for r in known if r in ancestors), default=0)

    def open_revs(self, doc_id, revs, /, **options):
        """``GET /db/doc?open_revs=...``: ``[{"ok": doc} | {"missing": rev}]``.

        ``revs`` is ``"all"`` (every leaf) or a list of rev strings; with ``latest`` each named revision
        is replaced by the leaves that descend from it. ``revs`` is positional-only, so ``options`` can
        carry the ``revs=true`` flag too.
        """
        rows = self.open_revs_related(doc_id, revs, **options)
        return [{"ok": row["ok"]} if "ok" in row else row for row in rows]

    def open_revs_related(self, doc_id, revs, /, *, follows=False, **options):
        """``open_revs()`` whose ``ok`` rows also carry ``"bodies"``, as ``get_related`` says."""
        try:
            seq, tree = self._load_tree(doc_id)
        except NotFound:
            if revs == "all":
                raise
            seq, tree = 0, {}
        results = []
        for rev in self._resolve_open_revs(tree, revs, options.get("latest")):
            if isinstance(rev, str):
                results.append({"missing": rev})
                continue
            try:
                doc, bodies = self._render(doc_id, tree, rev, seq, options, follows)
                results.append({"ok": doc, "bodies": bodies})
            except NotFound:
                results.append({"missing": format_rev(rev)})
        return results

    @staticmethod
    def _resolve_open_revs(tree, revs, latest):
        """Rev tuples to render, or rev strings that are missing, de-duplicated in order; leaves in
        CouchDB's key tree order, lowest revision first."""
        if revs == "all":
            return sorted(revtree.collect_leaves(tree))
        resolved = []
        for rev_str in revs:
            rev = parse_rev_or_400(rev_str)
            if rev not in tree:
                resolved.append(rev_str)
            elif latest:
                resolved.extend(sorted(revtree.latest(tree, rev)))
            else:
                resolved.append(rev)
        return list(dict.fromkeys(resolved))

    def bulk_get(self, requests, **options):
        """``POST /db/_bulk_get``: one ``{"id", "docs": [{"ok"}|{"error"}]}`` per request, as
        ``chttpd_db:bulk_get_*``: without a ``rev``, every leaf, deleted ones too."""
        results = []
        for req in requests:
            if not isinstance(req, dict):
                problem = "document must be a JSON object"
            elif not isinstance(req.get("id"), str):
                problem = "document id missed"
            else:
                results.append({"id": req["id"], "docs": self._bulk_get_one(req["id"], req, options)})
                continue
            error = {"id": None, "rev": None, "error": "bad_request", "reason": problem}
            results.append({"id": None, "docs": [{"error": error}]})
        return results

    def _bulk_get_one(self, doc_id, req, options):
        rev = req.get("rev")
        opts = dict(options)
        if "atts_since" in req:
            opts["atts_since"] = req["atts_since"]
        try:
            found = self.open_revs(doc_id, "all" if rev is None else [rev], **opts)
        except CouchError as err:
            return [{"error": _error_row(doc_id, "undefined" if rev is None else rev, err)}]
        return [
            {"ok": row["ok"]} if "ok" in row else
            {"error": {"id": doc_id, "rev": row["missing"], "error": "not_found", "reason": "missing"}}
            for row in found
        ]

    def get_attachment(self, doc_id, name, rev=None, *, encoded=False):
        """``(rev, stub, data)`` of attachment ``name`` on ``rev`` (the winner if ``None``): ``data`` is
        the identity bytes, or with ``encoded`` the bytes as stored (``stub["encoding"]`` says how)."""
        doc = self.get(doc_id, rev, att_encoding_info=True)
        att = doc.get("_attachments", {}).get(name)
        if att is None:
            raise NotFound("Document is missing attachment")
        data = self._storage.get_attachment(att["digest"])
        if data is None:
            raise NotFound("Document is missing attachment")
        return doc["_rev"], att, data if encoded else decode(att.get("encoding"), data)

    def revs_diff(self, request):
        """``POST /db/_revs_diff``: ``{id: {"missing": [...], "possible_ancestors": [...]}}``."""
        if not isinstance(request, dict):
            raise BadRequest("Request body must be a JSON object")
        rows = self._storage.get_docs(request)
        result = {}
        for doc_id, rev_strs in request.items():
            if not isinstance(rev_strs, list):
                raise BadRequest("Mismatch in _revs_diff: revisions must be a list")
            revs = [parse_rev_or_400(r) for r in rev_strs]
            tree = revtree.tree_from_json(json.loads(rows[doc_id].tree_json)) if doc_id in rows else {}
            missing, ancestors = revtree.revs_diff(tree, revs)
            if tree:  # couch_key_tree:find_missing/2 answers in tree order, lowest revision first
                missing = sorted(missing)
            if missing:
                entry = {"missing": [format_rev(r) for r in missing]}
                if ancestors:
                    entry["possible_ancestors"] = [format_rev(r) for r in ancestors]
                result[doc_id] = entry
        return result

    # -- listing -------------------------------------------------------------------------------------

    def all_docs(self, *, start_key=None, end_key=None, descending=False, inclusive_end=True,
                 limit=None, skip=0):
        """Yield ``(id, winner_rev_str)`` of live documents in id order, paged from SQLite."""
        remaining = limit if limit is not None else -1
        while remaining != 0:
            page = PAGE_SIZE if remaining < 0 else min(PAGE_SIZE, remaining)
            rows = self._storage.all_docs(start_key, end_key, descending, inclusive_end, page, skip)
            yield from rows
            if len(rows) < page:
                return
            skip += len(rows)
            remaining = remaining - len(rows) if remaining > 0 else remaining

    def lookup(self, doc_id):
        """``(winner_rev_str, deleted)`` of ``doc_id``, or ``None``, for ``_all_docs`` with ``keys``."""
        row = self._storage.get_doc(doc_id)
        return None if row is None else (row.winner, bool(row.deleted))

    def changes(self, since=0, **options):
        """The ``_changes`` pass after ``since``: an async generator of rows ending with a ``FeedEnd``
        (``store/changes.py``, where ``options`` are described)."""
        return feed(self, since, **options)

    def change_rows(self, since=0, *, limit=None, descending=False):
        """Yield a ``ChangeRow`` per document changed after ``since``, in seq order (newest first when
        ``descending``: then from the newest if ``since`` is 0)."""
        remaining = limit if limit is not None else -1
        if descending and since == 0:
            since = self.update_seq + 1
        while remaining != 0:
            page = PAGE_SIZE if remaining < 0 else min(PAGE_SIZE, remaining)
            rows = self._storage.changes(since, page, descending)
            for doc_id, seq, winner, deleted, tree_json in rows:
                tree = revtree.tree_from_json(json.loads(tree_json))
                yield ChangeRow(doc_id, seq, winner, bool(deleted), tree)
                since = seq
            if len(rows) < page:
                return
            remaining = remaining - len(rows) if remaining > 0 else remaining

    def local_docs(self):
        """``(id, rev_number)`` of every ``_local`` document, in id order."""
        return self._storage.list_local()

    def offset_before(self, key, descending=False):
        """How many live documents sort before ``key`` (after it when ``descending``): ``_all_docs``'s
        ``offset``; ``key`` ``None`` is the start."""
        return self._storage.count_before(key, descending)

    def count_changes_after(self, seq):
        """How many documents changed after ``seq`` (each counts once, at its latest change)."""
        return self._storage.count_after_seq(seq)

    def winning_docs(self, start=None, end=None, *, descending=False):
        """Yield ``(id, doc)`` of the live documents from ``start`` to ``end`` (inclusive, ``None`` for
        open) in id order, each its winning revision as ``get`` renders it without options; read from
        SQLite a page at a time with their bodies (Mango's ``_all_docs`` scans)."""
        resuming = False
        while True:
            rows = self._storage.winners(start, end, descending, PAGE_SIZE, resuming)
            for doc_id, winner, body in rows:
                yield doc_id, self._plain_doc(doc_id, winner, body)
            if len(rows) < PAGE_SIZE:
                return
            start, resuming = rows[-1][0], True

    def changed_docs(self, since, limit):
        """``[(id, seq, doc or None)]`` of up to ``limit`` documents changed after ``since``, in seq order:
        the winning revision as ``winning_docs`` renders it, ``None`` for a deleted document (Mango index
        updates)."""
        return [(doc_id, seq, None if deleted or body is None else self._plain_doc(doc_id, winner, body))
                for doc_id, seq, deleted, winner, body in self._storage.changed_winners(since, limit)]

    def _plain_doc(self, doc_id, winner, body_json):
        body = json.loads(body_json)
        doc = {"_id": doc_id, "_rev": winner}
        attachments = body.pop("_attachments", None)
        doc.update(body)
        if attachments:
            doc["_attachments"] = {name: {"content_type": att["content_type"], "revpos": att["revpos"],
                                          "digest": att["digest"], "length": att["length"], "stub": True}
                                   for name, att in attachments.items()}
        return doc

    def doc_at(self, doc_id, tree, **options):
        """The winning revision of ``doc_id`` rendered for ``include_docs`` (deleted ones included)."""
        rev = revtree.winning_rev(tree)
        try:
            return self._render(doc_id, tree, rev, 0, options)[0]
        except NotFound:
            return None

    def map_doc_texts(self, since, limit, local_seq=False):
        """``[(id, seq, text)]`` of up to ``limit`` documents changed after ``since``, in seq order:
        ``text`` is the winning revision as a map function gets it (``None`` when deleted or gone):
        ``_id``, ``_rev`` (and ``_local_seq`` when asked), then the stored body spliced in as it is, not
        decoded and encoded again; rendered whole when it has attachments (their stubs). One joined read
        per batch, where reading each document's tree and body cost two queries and a decoding."""
        return [(doc_id, seq, None if deleted or body is None
                 else self._map_doc_text(doc_id, seq, winner, body, local_seq))
                for doc_id, seq, deleted, winner, body in self._storage.changed_winners(since, limit)]

    def _map_doc_text(self, doc_id, seq, winner, body, local_seq):
        if '"_attachments":' in body:
            doc = self.doc_at(doc_id, self._load_tree(doc_id)[1])
            if doc is None:
                return None
            body = compact_json({k: v for k, v in doc.items() if k not in ("_id", "_rev")})
        head = '{"_id":' + compact_json(doc_id) + ',"_rev":' + compact_json(winner)
        if local_seq:
            head += ',"_local_seq":%d' % seq
        return head + ("}" if body == "{}" else "," + body[1:])

    async def wait_for_change(self, since, timeout):
        """Wait until ``update_seq > since`` or ``timeout`` seconds pass; ``True`` if there was a change.

        Cancelling the caller cancels the wait. (A plain future with a timer: ``asyncio.wait_for`` over a
        shielded future could leave a cancelled caller hanging on Python 3.11.)
        """
        if self.update_seq > since:
            return True
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        timer = loop.call_later(timeout, _resolve, future, False)
        self._waiters.append(future)
        try:
            return await future
        finally:
            timer.cancel()
            if future in self._waiters:
                self._waiters.remove(future)

    def _notify(self):
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            _resolve(future, True)

    # -- writing documents ------------------------------------------------------------------------

    def put(self, doc, *, new_edits=True, attachment_data=None, user_ctx=None):
        """Write one document; return ``{"ok": True, "id", "rev"}``. Raises the document's error."""
        result = self.update_docs([doc], new_edits=new_edits, attachment_data=attachment_data,
                                  user_ctx=user_ctx)
        if result and "error" in result[0]:
            raise result[0]["exception"]
        if result:
            return {"ok": True, "id": result[0]["id"], "rev": result[0]["rev"]}
        meta = split_doc(doc)[0]
        return {"ok": True, "id": meta["_id"], "rev": format_rev(self._replicated_path(meta)[0])}

    def update_docs(self, docs, *, new_edits=True, attachment_data=None, user_ctx=None):
        """``_bulk_docs``: write ``docs`` in one transaction; return one result row per document.

        A row is ``{"ok": True, "id", "rev"}`` or ``{"id", "error", "reason", "exception"}`` (the caller
        strips ``exception``). With ``new_edits=False`` successful rows are omitted, as CouchDB does.
        ``attachment_data`` maps ``(doc_id, name)`` to bytes for attachments sent with ``"follows": true``.
        Malformed documents raise before anything is written. Every document but ``_local`` and design
        ones must pass the design documents' ``validate_doc_update`` functions, which see ``user_ctx``
        (``{"db", "name", "roles"}``; a server admin's when ``None``: the server's own writes).
        """
        prepared = [self._prepare(doc, new_edits) for doc in docs]
        results = []
        counters = self.update_seq, self.doc_count, self.doc_del_count
        user_ctx = user_ctx or {"db": self.name, "name": None, "roles": ["_admin"]}
        try:
            self._write(prepared, new_edits, attachment_data or {}, results, user_ctx)
        except BaseException:
            self.update_seq, self.doc_count, self.doc_del_count = counters
            raise
        self._notify()
        return results

    def _write(self, prepared, new_edits, attachment_data, results, user_ctx):
        validators = self._validate_functions() if any(_validated(p.doc_id) for p in prepared) else ()
        with self._storage.transaction():
            edits = self._open_edits([p.doc_id for p in prepared if not p.doc_id.startswith("_local/")])
            for incoming in prepared:
                try:
                    self._check(incoming, edits.get(incoming.doc_id), new_edits, validators, user_ctx)
                    rev = self._apply(edits, incoming, new_edits, attachment_data)
                except CouchError as err:
                    # chttpd_db:update_doc_result_to_json: a replicated edit's row names its rev.
                    rev = None if new_edits else incoming.meta.get("_rev")
                    results.append(dict(_error_row(incoming.doc_id, rev, err), exception=err))
                    continue
                if new_edits:
                    results.append({"ok": True, "id": incoming.doc_id, "rev": rev})
            self._save_edits(edits)

    # -- views ----------------------------------------------------------------------------------------

    def view_index(self, ddoc_id):
        """The ``views.ViewIndex`` of design document ``ddoc_id`` as it is now (``NotFound`` if none),
        kept while the design document keeps its revision."""
        found = self.lookup(ddoc_id)
        cached = self._view_indexes.get(ddoc_id)
        if found is not None and not found[1] and cached is not None and cached[0] == found[0]:
            return cached[1]
        ddoc = self.get(ddoc_id)
        group = design.ViewGroup(ddoc_id, ddoc)
        lock = self._view_locks.setdefault(group.signature, asyncio.Lock())
        if not self._view_indexes:
            views.ensure_schema(self._storage.conn)
        index = views.ViewIndex(self, self._storage, group, self.query_server, lock)
        self._view_indexes[ddoc_id] = (ddoc["_rev"], index)
        return index

    def view_cleanup(self):
        """Drop the indexes no design document uses any more (``POST /db/_view_cleanup``), Mango's too."""
        live = set()
        for doc_id, _ in self.all_docs(start_key="_design/", end_key="_design0", inclusive_end=False):
            live.add(design.ViewGroup(doc_id, self.get(doc_id)).signature)
        views.cleanup(self._storage, live)
        self.drop_unused_indexes()

    def filter(self, name, req=None, view=None):
        """A predicate on documents: the design filter function ``name`` (``"ddoc/filter"``) called with
        ``req``, or with ``name == "_view"`` whether the map function of ``view`` (``"ddoc/view"``)
        emits (``couch_changes:configure_filter/4``, with its errors)."""
        if name == "_view":
            if view is None:
                raise BadRequest("`view` filter parameter is not provided.")
            ddoc, fname = self._design_function(view, "view", "views")
            query_server = self._require_query_server()
            return lambda doc: query_server.filter_view(ddoc, fname, [doc])[0]
        ddoc, fname = self._design_function(name, "filter", "filters")
        query_server = self._require_query_server()
        return lambda doc: query_server.filter(ddoc, fname, [doc], req or {})[0]

    def _design_function(self, name, what, member):
        parts = [part for part in name.split("/") if part]
        if len(parts) != 2:
            raise BadRequest(f"`{what}` must be of the form `designname/{what}name`")
        ddoc = self.get("_design/" + parts[0])
        functions = ddoc.get(member)
        if not isinstance(functions, dict):
            raise NotFound(f"missing json key: {member}")
        if parts[1] not in functions:
            raise NotFound(f"missing json key: {parts[1]}")
        return ddoc, parts[1]

    def _require_query_server(self):
        if self.query_server is None:
            raise NotImplementedFeature("JavaScript design functions need a JavaScript engine, and none was "
                                        "given")
        return self.query_server

    # -- validation ------------------------------------------------------------------------------------

    def _validate_functions(self):
        """The design documents with a ``validate_doc_update``, read once per change of design docs."""
        if self._validators is None:
            ddocs = []
            for doc_id, _ in self.all_docs(start_key="_design/", end_key="_design0", inclusive_end=False):
                ddoc = self.get(doc_id)
                if isinstance(ddoc.get("validate_doc_update"), str):
                    ddocs.append(ddoc)
            self._validators = ddocs
        return self._validators

    def _check(self, incoming, edit, new_edits, validators, user_ctx):
        """Check a design document's shape and functions (``design.validate``), or run every
        ``validate_doc_update`` on any other document (``couch_db:validate_doc_update/3``)."""
        if incoming.doc_id.startswith("_design/"):
            if not incoming.meta.get("_deleted"):
                design.validate(incoming.body, self.query_server)
            return
        if not validators or not _validated(incoming.doc_id):
            return
        if self.query_server is None:
            raise NotImplementedFeature("validate_doc_update needs a JavaScript engine, and none was given")
        new_doc = dict(incoming.body, **{k: v for k, v in incoming.meta.items() if k != "_attachments"})
        new_doc["_id"] = incoming.doc_id
        if incoming.meta.get("_attachments"):
            new_doc["_attachments"] = incoming.meta["_attachments"]
        old_doc = self._disk_doc(incoming, edit, new_edits)
        for ddoc in validators:
            self.query_server.validate(ddoc, new_doc, old_doc, user_ctx, self.security)

    def _disk_doc(self, incoming, edit, new_edits):
        """The document on disk an edit replaces, for ``validate_doc_update``'s ``oldDoc``: the revision
        named by ``_rev`` (interactive), or the leaf on the replicated path; ``None`` for a new one."""
        if edit is None or not edit.tree:
            return None
        if new_edits:
            rev_str = incoming.meta.get("_rev")
            rev = parse_rev_or_400(rev_str) if rev_str else revtree.winning_rev(edit.tree)
            if rev_str is None and not edit.tree[rev].deleted:
                return None
        else:
            leaves = set(revtree.collect_leaves(edit.tree))
            rev = next((r for r in incoming.path[1:] if r in leaves), None)
        if rev is None or rev not in edit.tree:
            return None
        try:
            return self._render(incoming.doc_id, edit.tree, rev, 0, {"revs": True})[0]
        except NotFound:
            return None

    def _prepare(self, doc, new_edits):
        meta, body = split_doc(doc)
        doc_id = meta.get("_id")
        if doc_id is None:
            if not new_edits:
                raise BadRequest("Document id is required when new_edits is false")
            doc_id = _new_uuid()
        validate_doc_id(doc_id)
        if "_rev" in meta:
            parse_rev_or_400(meta["_rev"])
        path = None
        if not new_edits and not doc_id.startswith("_local/"):
            if "_rev" not in meta and "_revisions" not in meta:
                raise BadRequest("When `new_edits: false`, the document needs `_rev` or `_revisions` "
                                 "specified")
            path = self._replicated_path(meta)  # a bad _revisions fails the batch before any write
        for name in meta.get("_attachments") or ():
            validate_attachment_name(name)
        size = len(compact_json(body))
        if size > self.max_document_size:
            raise TooLarge(doc_id, error="document_too_large")
        return _Incoming(doc_id, meta, body, path)

    def _open_edits(self, doc_ids):
        rows = self._storage.get_docs(set(doc_ids))
        return {
            doc_id: _Edit(doc_id, revtree.tree_from_json(json.loads(row.tree_json)), bool(row.deleted))
            for doc_id, row in rows.items()
        }

    def _save_edits(self, edits):
        # couch_db_updater sorts a batch's documents by id: their changes come in id order.
        for _, edit in sorted(edits.items()):
            if not edit.changed:
                continue
            if edit.doc_id.startswith("_design/"):
                self._validators = None
            self.update_seq += 1
            winner = revtree.winning_rev(edit.tree)
            deleted = edit.tree[winner].deleted
            self._storage.put_doc(edit.doc_id, self.update_seq, format_rev(winner), deleted,
                                 compact_json(revtree.tree_to_json(edit.tree)))
            if edit.was_deleted is not None:
                self._count(edit.was_deleted, -1)
            self._count(deleted, +1)

    def _count(self, deleted, delta):
        if deleted:
            self.doc_del_count += delta
        else:
            self.doc_count += delta

    def _apply(self, edits, incoming, new_edits, attachment_data):
        doc_id, meta, body = incoming.doc_id, incoming.meta, incoming.body
        if doc_id.startswith("_local/"):
            return self._put_local(doc_id, meta, body)
        edit = edits.get(doc_id)
        if edit is None:
            edit = edits[doc_id] = _Edit(doc_id, {}, None)
        deleted = bool(meta.get("_deleted"))
        if new_edits:
            path, parent = self._interactive_path(edit.tree, meta, deleted)
        else:
            path, parent = incoming.path, None
            if path[0] in edit.tree:
                return format_rev(path[0])
        atts = self._prepare_attachments(doc_id, meta.get("_attachments") or {}, edit.tree, path,
                                         attachment_data, keep_revpos=not new_edits)
        if new_edits:
            pos = path[1][0] + 1 if len(path) > 1 else 1
            path = [(pos, new_rev_hash(deleted, parent, body, atts))] + path[1:]
        stored = dict(body)
        if atts:
            stored["_attachments"] = atts
        rev = path[0]
        self._fill_revpos(atts, rev[0])
        tree = revtree.stem(revtree.merge(edit.tree, path, deleted), self.revs_limit)
        self._storage.put_rev(doc_id, format_rev(rev), compact_json(stored))
        edit.tree, edit.changed = tree, True
        return format_rev(rev)

    @staticmethod
    def _fill_revpos(atts, pos):
        for att in atts.values():
            if att.get("revpos") is None:
                att["revpos"] = pos

    def _interactive_path(self, tree, meta, deleted):
        """``([placeholder, parent, ...], parent_rev_str)`` for an edit with ``new_edits=true``.

        The first entry is a placeholder replaced by the new revision once its hash is known. The rules
        are CouchDB 3.x's (``couch_db_updater:merge_rev_tree/4``): while the winner is live, ``_rev`` must
        name a leaf, live or deleted; once the whole document is deleted, the only edit is a live one
        without ``_rev``, which extends the deleted winner (so ``_rev`` set to the tombstone is a conflict).
        """
        rev_str = meta.get("_rev")
        if not tree:
            if rev_str is not None:
                raise Conflict()
            return [None], None
        winner = revtree.winning_rev(tree)
        if tree[winner].deleted:
            if rev_str is not None or deleted:
                raise Conflict()
            parent = winner
        else:
            parent = parse_rev_or_400(rev_str) if rev_str is not None else None
            if not revtree.is_leaf(tree, parent):
                raise Conflict()
        return [None, parent], format_rev(parent)

    @staticmethod
    def _replicated_path(meta):
        """The revision path of a replicated edit, newest first: ``_revisions``, which wins over ``_rev``
        when both are there (``couch_doc:transfer_fields/3``), or ``_rev`` alone."""
        revisions = meta.get("_revisions")
        if revisions is None:
            return [parse_rev_or_400(meta.get("_rev"))]
        if not isinstance(revisions, dict):
            raise DocValidation("_revisions isn't an object.")
        start, ids = revisions.get("start"), revisions.get("ids")
        if not isinstance(start, int) or isinstance(start, bool):
            raise DocValidation("_revisions.start isn't an integer.")
        if not isinstance(ids, list):
            raise DocValidation("_revisions.ids isn't a array.")
        if not all(isinstance(digest, str) for digest in ids):
            raise DocValidation("RevId isn't a string")
        if not ids or start - len(ids) < 0:
            raise BadRequest("Invalid _revisions: no revision, or one below generation 0")
        try:
            return [parse_rev(f"{start - i}-{digest}") for i, digest in enumerate(ids)]
        except ValueError:
            raise DocValidation("RevId isn't a valid hexadecimal") from None

    def _prepare_attachments(self, doc_id, attachments, tree, path, attachment_data, *, keep_revpos):
        """Turn incoming attachments into stored stubs, writing new data; raise ``missing_stub``."""
        stored = {}
        parent_atts = None
        for name, att in attachments.items():
            if not isinstance(att, dict):
                raise BadRequest(f"Invalid attachment {name}")
            if att.get("stub"):
                if parent_atts is None:
                    parent_atts = self._ancestor_attachments(doc_id, tree, path)
                stored[name] = self._resolve_stub(doc_id, name, att, parent_atts)
                continue
            content_type = att.get("content_type", DEFAULT_CONTENT_TYPE)
            body = self._attachment_body(doc_id, name, content_type, att, attachment_data)
            if body.upload is not None:
                self._storage.link_upload(body.digest, body.upload)
            else:
                self._storage.put_attachment(body.digest, body.data)
            revpos = att.get("revpos") if keep_revpos and isinstance(att.get("revpos"), int) else None
            stored[name] = _stub(content_type, body.digest, body.length, revpos, body.encoding,
                                 body.encoded_length)
        return stored

    @staticmethod
    def _attachment_body(doc_id, name, content_type, att, attachment_data):
        """The ``encodings.Body`` of an attachment sent inline (identity bytes in base64) or following
        the document (as they are, ``"encoding"`` saying how; a ``"digest"`` must match them)."""
        if att.get("follows"):
            data = attachment_data.get((doc_id, name))
            if data is None:
                raise BadRequest(f"Attachment {name} was not sent")
            if isinstance(data, Body):
                return data
            return received_body(content_type, data, att.get("encoding"), _digest_of(att))
        if "data" not in att:
            raise BadRequest(f"Attachment {name} has neither data nor stub")
        return encode(content_type, decode_attachment_data(name, att["data"]), _digest_of(att))

    def _resolve_stub(self, doc_id, name, att, parent_atts):
        known = parent_atts.get(name)
        # couch_doc:merge_stubs/2: a stub naming a digest or revpos must name the parent's.
        if known is not None and att.get("digest", known["digest"]) == known["digest"] \
                and att.get("revpos", known["revpos"]) == known["revpos"]:
            return known
        digest = att.get("digest")
        if isinstance(digest, str) and self._storage.has_attachment(digest) and "revpos" in att:
            return self._foreign_stub(att, digest)
        raise MissingStub(f"Invalid attachment stub in {doc_id} for {name}")

    def _foreign_stub(self, att, digest):
        """A replicated stub of bytes stored here for another document. How they are encoded is read
        off the bytes (a gzip stream of a type we compress, or one claimed gzip), not taken on trust."""
        content_type = att.get("content_type", DEFAULT_CONTENT_TYPE)
        head, size = self._storage.attachment_head(digest)
        gzipped = head == GZIP_MAGIC and (att.get("encoding") == GZIP or is_compressible(content_type))
        length = att.get("length")
        if not isinstance(length, int) or isinstance(length, bool):
            data = self._storage.get_attachment(digest)
            length = len(decode(GZIP, data) if gzipped else data)
        return _stub(content_type, digest, length, att["revpos"], GZIP if gzipped else None, size)

    def _ancestor_attachments(self, doc_id, tree, path):
        """Attachments of the nearest stored ancestor of the new revision."""
        candidates = [rev for rev in path[1:] if rev is not None]
        if candidates and candidates[0] in tree:
            candidates = revtree.path_to(tree, candidates[0])
        for rev in candidates:
            body = self._load_body(doc_id, rev)
            if body is not None:
                return body.get("_attachments", {})
        return {}

    # -- attachments as their own resource ----------------------------------------------------------

    def attachment_upload(self, content_type, encoding=None):
        """An ``AttachmentUpload`` to stream a body into, for ``put_attachment`` (``uploads.py``);
        ``encoding`` is the body's ``Content-Encoding`` (``None`` or ``"gzip"``)."""
        return AttachmentUpload(self._storage, content_type, encoding)

    def put_attachment(self, doc_id, name, rev, content_type, data, upload=None, user_ctx=None):
        """``PUT /db/doc/att``: a new revision of ``doc_id`` with ``name`` added or replaced. ``data`` is
        ``upload.finish()`` (or identity bytes); if the write fails, ``upload`` is discarded."""
        try:
            validate_attachment_name(name)
            doc = self._editable(doc_id, rev)
            atts = doc.setdefault("_attachments", {})
            # "follows" hands the bytes over as they are: no base64 round trip for a many-megabyte upload.
            atts[name] = {"content_type": content_type, "follows": True}
            return self.put(doc, attachment_data={(doc_id, name): data}, user_ctx=user_ctx)
        except BaseException:
            if upload is not None:
                upload.discard()
            raise

    def delete_attachment(self, doc_id, name, rev, user_ctx=None):
        """``DELETE /db/doc/att``: a new revision of ``doc_id`` without ``name``. The revision named (the
        winner without one) must have it, else 404, before a missing ``rev`` is a conflict."""
        validate_attachment_name(name)
        doc = self.get(doc_id, rev)
        if name not in doc.get("_attachments", {}):
            raise NotFound("Document is missing attachment")
        if rev is None:
            raise Conflict()
        del doc["_attachments"][name]
        return self.put(doc, user_ctx=user_ctx)

    def _editable(self, doc_id, rev):
        try:
            doc = self.get(doc_id, rev)
        except NotFound:
            if rev is not None:
                raise Conflict() from None
            return {"_id": doc_id}
        if rev is None:
            raise Conflict()
        return doc

    # -- _local documents ----------------------------------------------------------------------------

    def get_local(self, doc_id):
        row = self._storage.get_local(doc_id)
        if row is None:
            raise NotFound("missing")
        doc = {"_id": doc_id, "_rev": f"0-{row.rev}"}
        doc.update(json.loads(row.body_json))
        return doc

    def put_local(self, doc):
        meta, body = split_doc(doc)
        validate_doc_id(meta.get("_id"))
        with self._storage.transaction():
            rev = self._put_local(meta["_id"], meta, body)
        return {"ok": True, "id": meta["_id"], "rev": rev}

    def delete_local(self, doc_id, rev=None):
        """Delete ``doc_id`` at ``rev`` (its current one if ``None``); ``NotFound`` if it is not there."""
        current = self.get_local(doc_id)["_rev"]
        if rev is not None and rev != current:
            raise NotFound("missing")
        return self.put_local({"_id": doc_id, "_rev": current, "_deleted": True})

    def _put_local(self, doc_id, meta, body):
        """CouchDB 3.x keeps no history of ``_local`` documents and checks no revision: a write is
        revision ``0-(N+1)`` for the ``0-N`` it names (``0-1`` for none), a deletion ``0-0``."""
        number = _local_rev_number(meta.get("_rev"))
        if meta.get("_deleted"):
            self._storage.delete_local(doc_id)
            return "0-0"
        self._storage.put_local(doc_id, number + 1, compact_json(body))
        return f"0-{number + 1}"

    # -- Mango queries (store/find.py, store/mango_index.py) ----------------------------------------

    def _mango_rows(self):
        if self._index_rows is None:
            self._index_rows = mango_index.IndexRows(self._storage)
        return self._index_rows

    async def find(self, body):
        """``POST /db/_find``: a ``find.Cursor`` (iterate it for the documents, then ``trailer()``).
        Raises CouchDB's Mango errors for a bad body, sort or ``use_index``."""
        return await find.find(self, self._mango_rows(), body)

    def explain(self, body):
        """``POST /db/_explain``: the plan ``find`` would follow for ``body``."""
        return find.explain_request(self, body)

    def indexes(self, limit=None, skip=0):
        """``GET /db/_index``: ``{"total_rows", "indexes"}``."""
        return mango_index.list_answer(self, limit, skip)

    def create_index(self, body):
        """``POST /db/_index``: ``{"result": "created"|"exists", "id", "name"}``."""
        return mango_index.create_index(self, body)

    def delete_index(self, ddoc, type_, name):
        """``DELETE /db/_index/DDOC/TYPE/NAME``; then drops the rows no index uses any more."""
        answer = mango_index.delete_index(self, ddoc, type_, name)
        self.drop_unused_indexes()
        return answer

    def bulk_delete_indexes(self, body):
        answer = mango_index.bulk_delete(self, body)
        self.drop_unused_indexes()
        return answer

    def drop_unused_indexes(self):
        """Drop the SQLite rows of Mango indexes no design document defines any more."""
        signatures = {index.signature for index in mango_index.list_indexes(self) if index.type == "json"}
        self._mango_rows().drop_unused(signatures)

    # -- maintenance ---------------------------------------------------------------------------------

    def compact(self):
        """Drop bodies of non-leaf revisions and attachments no stored revision refers to."""
        with self._storage.transaction():
            for doc_id, tree_json in list(self._storage.all_trees()):
                leaves = {format_rev(r) for r in revtree.collect_leaves(revtree.tree_from_json(
                    json.loads(tree_json)))}
                for rev in self._storage.list_revs(doc_id):
                    if rev not in leaves:
                        self._storage.delete_rev(doc_id, rev)
            referenced = set()
            for _, _, body in self._storage.all_rev_bodies():
                for att in json.loads(body).get("_attachments", {}).values():
                    referenced.add(att["digest"])
            for digest in self._storage.list_attachments():
                if digest not in referenced:
                    self._storage.delete_attachment(digest)
        if self._storage.path != ":memory:":
            self._storage.vacuum()

    def close(self):
        self.closed = True
        self._notify()
        self._storage.close()


def _validated(doc_id):
    return not doc_id.startswith(("_design/", "_local/"))


def _resolve(future, value):
    if not future.done():
        future.set_result(value)


def _local_rev_number(rev):
    if rev is None:
        return 0
    if isinstance(rev, str) and rev.startswith("0-") and rev[2:].isdigit():
        return int(rev[2:])
    raise BadRequest("Invalid rev format")


def _error_row(doc_id, rev, err):
    row = {"id": doc_id}
    if rev is not None:
        row["rev"] = rev
    row.update(err.to_json())
    return row


def _digest_of(att):
    return att.get("digest") if isinstance(att.get("digest"), str) else None


def _stub(content_type, digest, length, revpos, encoding, encoded_length):
    """An attachment as stored in a revision's body (``revpos`` is filled in once the rev is known)."""
    stub = {"content_type": content_type, "digest": digest, "length": length, "revpos": revpos, "stub": True}
    if encoding:
        stub.update(encoding=encoding, encoded_length=encoded_length)
    return stub


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _new_uuid():
    return uuid.uuid4().hex
