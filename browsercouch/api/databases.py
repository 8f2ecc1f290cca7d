"""Database routes: create, info, delete, ``_all_docs``, ``_revs_limit``, ``_security``, ``_compact``, and
the refusal of attachments on ``_local`` documents."""

import re

from ..errors import BadContentType, BadRequest, NotFound, QueryParseError
from . import auth, system_dbs
from .messages import ChunkedResponse, JSONResponse, dumps, loads

# More rows than a database can hold (SQLite's row ids are 64-bit); larger limits and skips mean the same,
# and would overflow SQLite's integers.
MAX_ROWS = 2**62


async def info(req):
    return JSONResponse(req.db.info())


async def create(req):
    req.app.couch.create_db(req.params["db"])
    req.app.scheduler.database_created(req.params["db"])
    return JSONResponse({"ok": True}, status=201, headers=[("Location", req.absolute_uri(req.params["db"]))])


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


async def ensure_full_commit(req):
    await req.app.couch.ensure_full_commit()
    return JSONResponse(req.db.ensure_full_commit(), status=201)


# A bound that was not given (``null`` is a key, so ``None`` cannot say "absent").
UNSET = object()
# Parameters whose value is JSON in a query string.
_JSON_PARAMS = frozenset({"key", "keys", "startkey", "start_key", "endkey", "end_key"})
_BOOLEAN_PARAMS = frozenset({"descending", "inclusive_end", "include_docs", "conflicts", "attachments",
                             "update_seq"})
_START_DOCID = ("startkey_docid", "start_key_doc_id")
_END_DOCID = ("endkey_docid", "end_key_doc_id")


class AllDocsQuery:
    """The ``_all_docs`` parameters, read as ``couch_mrview_http:parse_params/4`` reads them.

    ``params`` are ``(name, value, decoded)`` in CouchDB's order: a POST body's members (``decoded``:
    JSON values already), then the query string's (text); a later one overrides an earlier one. ``keys``
    with one key also sets both bounds to it, so ``keys=["a"]`` goes with ``key="a"`` but not with
    another bound (``couch_mrview_util:validate_args/1``). A bound that is not a string sorts before
    every document id (Erlang's term order, which CouchDB's id tree uses), which ``""`` also does.
    """

    def __init__(self, keys, params):
        self.keys = keys
        self.start = self.end = UNSET
        self.start_docid = self.end_docid = None
        self.descending, self.inclusive_end, self.include_docs = False, True, False
        self.conflicts = self.attachments = self.update_seq = False
        self.limit, self.skip = None, 0
        for name, value, decoded in params:
            self._read(name, value if decoded or name not in _JSON_PARAMS else loads(value), decoded)
        self._check_keys()
        if self.limit is not None:
            self.limit = min(self.limit, MAX_ROWS)
        self.skip = min(self.skip, MAX_ROWS)

    def _read(self, name, value, decoded):
        if name == "key":
            self.start = self.end = value
        elif name == "keys":
            if isinstance(value, list) and len(value) == 1:
                self.start = self.end = value[0]
            else:
                self.keys = value
        elif name in ("startkey", "start_key"):
            self.start = value
        elif name in ("endkey", "end_key"):
            self.end = value
        elif name in _START_DOCID + _END_DOCID:
            docid = value if isinstance(value, str) else dumps(value).decode().rstrip("\n")
            setattr(self, "start_docid" if name in _START_DOCID else "end_docid", docid)
        elif name in ("limit", "skip"):
            setattr(self, name, _positive_int(value, decoded))
        elif name in _BOOLEAN_PARAMS:
            setattr(self, name, _boolean(value, decoded))

    def _check_keys(self):
        keys, start, end = self.keys, self.start, self.end
        if keys is None or keys == []:
            return
        if not isinstance(keys, list):
            raise QueryParseError("`keys` must be an array of strings.")
        if len(keys) == 1 and start is not UNSET and start == keys[0] and end == keys[0]:
            return
        if start is not UNSET or end is not UNSET:
            raise QueryParseError("`keys` is incompatible with `key`, `start_key` and `end_key`")

    def bounds(self):
        """``(start, end)`` document ids for the range (``None``: open), per the rules above."""
        start = self.start_docid if self.start is UNSET else _as_id(self.start)
        end = self.end_docid if self.end is UNSET else _as_id(self.end)
        return start, end


def _as_id(key):
    """A JSON key as a document id bound: itself if a string, else ``""``, which sorts as it would."""
    return key if isinstance(key, str) else ""


def _shown(value, decoded):
    """A value as Erlang's ``~p`` shows it in CouchDB's messages: ``"text"`` from a query string (``[]``
    when empty: a string is a list there), ``<<"text">>`` from a JSON body."""
    if not isinstance(value, str):
        return dumps(value).decode().rstrip("\n")
    if value == "" and not decoded:
        return "[]"
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"<<{quoted}>>" if decoded else quoted


def _boolean(value, decoded):
    """``couch_mrview_http:parse_boolean/1``: ``true``/``false`` in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise QueryParseError(f"Invalid boolean parameter: {_shown(value, decoded)}")


def _positive_int(value, decoded):
    """``couch_mrview_http:parse_pos_int/1``: a ``limit`` or ``skip`` of at least 0."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and not decoded and re.fullmatch(r"[+-]?[0-9]+", value):
        # More digits than any row count: read as MAX_ROWS (int() refuses over 4300 digits).
        number = int(value) if len(value) <= 19 else (-1 if value.startswith("-") else MAX_ROWS)
    if number is None:
        raise QueryParseError(f"Invalid value for integer: {_shown(value, decoded)}")
    if number < 0:
        raise QueryParseError(f"Invalid value for positive integer: {_shown(value, decoded)}")
    return number


def _all_docs_query(req, body):
    """The ``AllDocsQuery`` of a request: ``keys`` from the query string (GET) or the body (POST)."""
    if req.method == "POST":
        keys = body.get("keys")
        if "keys" in body and not isinstance(keys, list):
            raise BadRequest("`keys` body member must be an array.")
    else:
        keys = req.query.json("keys")
        if keys is not None and not isinstance(keys, list):
            raise BadRequest("`keys` parameter must be an array.")
    params = [(name, value, True) for name, value in body.items()]
    params += [(name, value, False) for name, value in req.query.raw.items()]
    return AllDocsQuery(keys, params)


async def _body_object(req):
    """A POST's JSON object body (``415`` unless it says JSON), or ``{}`` for a GET."""
    if req.method != "POST":
        return {}
    body = await req.json(require_content_type=True)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


async def all_docs(req):
    system_dbs.check_listing(req)
    q = _all_docs_query(req, await _body_object(req))
    start, end = q.bounds()
    return ChunkedResponse(_all_docs_chunks(req.db, q, start, end, req.db.doc_count))


async def design_docs(req):
    q = _all_docs_query(req, await _body_object(req))
    start, end = q.bounds()
    low, high = "_design/", "_design0"
    if q.descending:
        start, end = min(start or high, high), max(end or low, low)
    else:
        start, end = max(start or low, low), min(end or high, high)
    total = req.db.offset_before(high) - req.db.offset_before(low)
    return ChunkedResponse(_all_docs_chunks(req.db, q, start, end, total))


async def local_docs(req):
    q = AllDocsQuery(None, [(name, value, False) for name, value in req.query.raw.items()])
    rows = []
    for doc_id, rev in req.db.local_docs():
        row = {"id": doc_id, "key": doc_id, "value": {"rev": f"0-{rev}"}}
        if q.include_docs:
            row["doc"] = req.db.get_local(doc_id)
        rows.append(row)
    return JSONResponse({"total_rows": None, "offset": None, "rows": rows})


async def refuse_local_attachment(req):
    # chttpd_db:db_req/2 refuses every method on /db/_local/doc/att before looking at the document.
    raise BadRequest("_local documents do not accept attachments.")


async def _all_docs_chunks(db, q, start, end, total):
    """The body: ``offset`` and ``update_seq`` are ``null`` with ``keys`` (CouchDB reads those one by
    one), else ``offset`` is the live documents before ``start`` plus ``skip``, at most ``total``
    (``fabric_view_all_docs``: the skip is added whether or not the range had that many rows)."""
    if q.keys is not None:
        offset = b"null"
        rows = _rows_for_keys(db, q)
    else:
        offset = b"%d" % min(total, db.offset_before(start, q.descending) + q.skip)
        rows = _rows_for_range(db, q, start, end)
    yield b'{"total_rows":%d,"offset":%s,"rows":[\r\n' % (total, offset)
    first = True
    for row in rows:
        chunk = dumps(row)[:-1]
        yield chunk if first else b",\r\n" + chunk
        first = False
    tail = b'\r\n]'
    if q.update_seq:
        tail += b',"update_seq":' + (b"null" if q.keys is not None else b"%d" % db.update_seq)
    yield tail + b"}\n"


def _rows_for_range(db, q, start, end):
    for doc_id, rev in db.all_docs(start_key=start, end_key=end, descending=q.descending,
                                   inclusive_end=q.inclusive_end, limit=q.limit, skip=q.skip):
        row = {"id": doc_id, "key": doc_id, "value": {"rev": rev}}
        if q.include_docs:
            row["doc"] = db.get(doc_id, conflicts=q.conflicts, attachments=q.attachments)
        yield row


def _rows_for_keys(db, q):
    """One row per key, in the order given (reversed for ``descending``, as CouchDB does)."""
    keys = q.keys[::-1] if q.descending else q.keys
    keys = keys[q.skip:]
    if q.limit is not None:
        keys = keys[:q.limit]
    for key in keys:
        if isinstance(key, str) and key.startswith("_local/"):
            yield _local_row(db, key, q)
            continue
        found = db.lookup(key) if isinstance(key, str) else None
        if found is None:
            yield _not_found_row(key)
            continue
        rev, deleted = found
        row = {"id": key, "key": key, "value": {"rev": rev}}
        if deleted:
            row["value"]["deleted"] = True
        if q.include_docs:
            row["doc"] = None if deleted else db.get(key, conflicts=q.conflicts, attachments=q.attachments)
        yield row


def _not_found_row(key):
    return {"key": key, "error": "not_found"}


def _local_row(db, key, q):
    """A ``_local`` document asked for by key: CouchDB finds those too (never in a range)."""
    try:
        doc = db.get_local(key)
    except NotFound:
        return _not_found_row(key)
    row = {"id": key, "key": key, "value": {"rev": doc["_rev"]}}
    if q.include_docs:
        row["doc"] = doc
    return row
