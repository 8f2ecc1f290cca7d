"""Database routes: create, info, delete, ``_all_docs``, ``_revs_limit``, ``_security``, ``_compact``."""

import json

from ..errors import BadContentType, BadRequest
from . import auth
from .messages import JSONResponse, StreamResponse, dumps

# More rows than a database can hold (SQLite's row ids are 64-bit); larger limits and skips mean the same,
# and would overflow SQLite's integers.
MAX_ROWS = 2**62



async def info(req):
    return JSONResponse(req.db.info())


async def create(req):
    req.app.couch.create_db(req.params["db"])
    req.app.scheduler.database_created(req.params["db"])
    return JSONResponse({"ok": True}, status=201, headers=[("Location", "/" + req.params["db"])])


async def delete(req):
    if "rev" in req.query:
        raise BadRequest("You tried to DELETE a database with a ?=rev parameter. "
                         "Did you mean to DELETE a document instead?")
    req.app.couch.delete_db(req.params["db"])
    return JSONResponse({"ok": True})


async def get_revs_limit(req):
    return JSONResponse(req.db.revs_limit)


async def put_revs_limit(req):
    req.db.set_revs_limit(await req.json())
    return JSONResponse({"ok": True})


async def get_security(req):
    return JSONResponse(req.db.security)


async def put_security(req):
    security = await req.json()
    auth.validate_security(security)
    req.db.set_security(security)
    return JSONResponse({"ok": True})


async def compact(req):
    if req.content_type != "application/json":
        raise BadContentType()
    req.db.compact()
    return JSONResponse({"ok": True}, status=202)


async def view_cleanup(req):
    return JSONResponse({"ok": True}, status=202)


async def ensure_full_commit(req):
    # Every write is committed before it is acknowledged, so there is never anything left to commit.
    return JSONResponse({"ok": True, "instance_start_time": "0"}, status=201)


class AllDocsQuery:
    """The ``_all_docs`` parameters, from the query string and (for POST) the JSON body."""

    def __init__(self, query, body):
        def param(*names, default=None):
            for name in names:
                if name in body:
                    return body[name]
                if name in query:
                    return query.json(name) if name not in ("startkey_docid", "endkey_docid") \
                        else query.get(name)
            return default

        self.keys = param("keys")
        self.start = param("start_key", "startkey", "start_key_doc_id", "startkey_docid")
        self.end = param("end_key", "endkey", "end_key_doc_id", "endkey_docid")
        self.key = param("key")
        self.descending = _as_bool(param("descending", default=False))
        self.inclusive_end = _as_bool(param("inclusive_end", default=True))
        self.include_docs = _as_bool(param("include_docs", default=False))
        self.conflicts = _as_bool(param("conflicts", default=False))
        self.attachments = _as_bool(param("attachments", default=False))
        self.update_seq = _as_bool(param("update_seq", default=False))
        self.limit = _as_count(param("limit"), "limit")
        self.skip = _as_count(param("skip", default=0), "skip")
        if self.key is not None:
            self.start = self.end = self.key
        if self.keys is not None and not isinstance(self.keys, list):
            raise BadRequest("`keys` member must be an array.")
        for bound in (self.start, self.end):
            if bound is not None and not isinstance(bound, str):
                raise BadRequest(f"Document ids are strings; invalid key {json.dumps(bound)}")


def _as_bool(value):
    if isinstance(value, bool):
        return value
    raise BadRequest("Invalid boolean parameter")


def _as_count(value, name):
    """A ``limit`` or ``skip``: a non-negative integer, cut to ``MAX_ROWS`` (no more rows exist)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"Invalid value for integer parameter: {name}")
    return min(value, MAX_ROWS)


async def all_docs(req):
    body = await req.json(require_content_type=True) if req.method == "POST" else {}
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return _all_docs_response(req.db, AllDocsQuery(req.query, body))


async def design_docs(req):
    body = await req.json(require_content_type=True) if req.method == "POST" else {}
    q = AllDocsQuery(req.query, body if isinstance(body, dict) else {})
    low, high = "_design/", "_design0"
    if q.descending:
        q.start, q.end = min(q.start or high, high), max(q.end or low, low)
    else:
        q.start, q.end = max(q.start or low, low), min(q.end or high, high)
    return _all_docs_response(req.db, q)


async def local_docs(req):
    rows = [{"id": doc_id, "key": doc_id, "value": {"rev": f"0-{rev}"}}
            for doc_id, rev in req.db.storage.list_local()]
    return JSONResponse({"total_rows": None, "offset": None, "rows": rows})


def _all_docs_response(db, q):
    return StreamResponse(_all_docs_chunks(db, q))


async def _all_docs_chunks(db, q):
    offset = q.skip if q.keys is not None else db.storage.count_before(q.start, q.descending) + q.skip
    yield b'{"total_rows":%d,"offset":%d,"rows":[\r\n' % (db.doc_count, offset)
    rows = _rows_for_keys(db, q) if q.keys is not None else _rows_for_range(db, q)
    first = True
    for row in rows:
        chunk = dumps(row)[:-1]
        yield chunk if first else b",\r\n" + chunk
        first = False
    tail = b'\r\n]'
    if q.update_seq:
        tail += b',"update_seq":%d' % db.update_seq
    yield tail + b"}\n"


def _rows_for_range(db, q):
    for doc_id, rev in db.all_docs(start_key=q.start, end_key=q.end, descending=q.descending,
                                   inclusive_end=q.inclusive_end, limit=q.limit, skip=q.skip):
        row = {"id": doc_id, "key": doc_id, "value": {"rev": rev}}
        if q.include_docs:
            row["doc"] = db.get(doc_id, conflicts=q.conflicts, attachments=q.attachments)
        yield row


def _rows_for_keys(db, q):
    keys = q.keys[q.skip:]
    if q.limit is not None:
        keys = keys[:q.limit]
    for key in keys:
        found = db.lookup(key) if isinstance(key, str) and not key.startswith("_local/") else None
        if found is None:
            yield {"key": key, "error": "not_found"}
            continue
        rev, deleted = found
        row = {"id": key, "key": key, "value": {"rev": rev}}
        if deleted:
            row["value"]["deleted"] = True
        if q.include_docs:
            row["doc"] = None if deleted else db.get(key, conflicts=q.conflicts, attachments=q.attachments)
        yield row
