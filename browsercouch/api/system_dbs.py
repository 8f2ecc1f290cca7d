"""What the system databases ``_users`` and ``_replicator`` add to every document read and write.

CouchDB opens them with ``before_doc_update`` and ``after_doc_read`` functions (``couch_server.erl``) that
run whatever the database's ``_security`` says, and lets only server admins list them
(``chttpd_auth_request.erl``: ``_all_docs`` and ``_changes``). The handlers call ``incoming`` for each
document they write, ``outgoing`` for each they read and ``check_listing`` before a listing; for any
other database these change nothing. The rules themselves are in ``users.py`` and ``replicator_docs.py``.
"""

from ..errors import CouchError, NotFound
from . import auth, replicator_docs, users

__all__ = ["check_listing", "check_writers", "incoming", "outgoing", "check_document_read",
           "check_document_write", "read_rows"]

SYSTEM_DBS = (users.USERS_DB, replicator_docs.REPLICATOR_DB)


def check_listing(req):
    """``_all_docs`` and ``_changes`` of a system database: server admins only (401 otherwise)."""
    if req.params["db"] in SYSTEM_DBS:
        auth.check_server_admin(req.user)


def _stored(db, doc, new_edits):
    """The stored revision a write replaces: the one it names, else the winner; ``None`` if none lives."""
    doc_id, rev = doc.get("_id"), doc.get("_rev") if new_edits else None
    if not isinstance(doc_id, str):
        return None
    try:
        old = db.get(doc_id, rev if isinstance(rev, str) else None)
    except CouchError:
        return None
    return None if old.get("_deleted") else old


def _ruled(req, doc):
    return req.params["db"] in SYSTEM_DBS and isinstance(doc, dict) and \
        not str(doc.get("_id")).startswith("_local/")


def check_writers(req, docs, *, new_edits=True):
    """Raise unless the request's user may write each of ``docs`` at all. CouchDB checks this for the
    whole of a ``_bulk_docs`` before it validates each document (``fabric_doc_update:before_doc_update/3``),
    so one refused document refuses the request."""
    for doc in docs:
        if not _ruled(req, doc):
            continue
        if req.params["db"] == users.USERS_DB:
            users.check_writer(doc, req.user, req.db.security)
        else:
            replicator_docs.check_writer(doc, _stored(req.db, doc, new_edits), req.user, req.db.security)


async def incoming(req, doc, *, new_edits=True):
    """``doc`` as it will be stored in the request's database, or raise what refuses it."""
    if not _ruled(req, doc):
        return doc
    old, security = _stored(req.db, doc, new_edits), req.db.security
    if req.params["db"] == users.USERS_DB:
        return await users.before_update(doc, old, req.user, security, req.app.pbkdf2,
                                         req.app.password_iterations)
    return replicator_docs.before_update(doc, old, req.user, security)


async def check_document_write(req, doc_id):
    """Raise unless the request may write a new revision of ``doc_id`` with its body unchanged (an
    attachment written or deleted)."""
    if req.params["db"] in SYSTEM_DBS:
        try:
            doc = req.db.get(doc_id)
        except NotFound:
            doc = {"_id": doc_id}
        await incoming(req, {k: v for k, v in doc.items() if k != "_attachments"})


def outgoing(req, doc):
    """``doc`` as the request's user may see it; raises ``NotFound`` or ``Forbidden`` when they may not."""
    db_name = req.params["db"]
    if db_name == users.USERS_DB:
        return users.after_read(doc, req.user, req.db.security)
    if db_name == replicator_docs.REPLICATOR_DB:
        return replicator_docs.after_read(doc, req.user, req.db.security)
    return doc


def check_document_read(req, doc_id, rev):
    """Raise unless the request's user may read ``doc_id`` at ``rev`` (one of its attachments)."""
    if req.params["db"] in SYSTEM_DBS:
        outgoing(req, req.db.get(doc_id, rev))


def read_rows(req, rows, make_missing):
    """Rows of ``{"ok": doc}`` (``open_revs``, ``_bulk_get``) as the user may see them: a document they may
    not see becomes ``make_missing(doc)``."""
    if req.params["db"] not in SYSTEM_DBS:
        return rows
    shown = []
    for row in rows:
        if "ok" in row:
            try:
                row = {**row, "ok": outgoing(req, row["ok"])}
            except CouchError:
                row = make_missing(row["ok"])
        shown.append(row)
    return shown
