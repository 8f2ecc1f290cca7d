"""View routes: ``/db/_design/D/_view/V`` (GET, POST, and ``/queries``), ``/db/_design/D/_info`` and
``POST /db/_view_cleanup``.

Parameters are read as ``couch_mrview_http:parse_params/4`` reads them and checked as
``couch_mrview_util:validate_args/1`` checks them, with CouchDB's messages; the rows come from the
store's index (``store.views``), updated first unless ``update=false`` (``lazy``: after answering).
"""

import functools
import itertools
import json

from ..errors import BadRequest, CouchError, NotFound, QueryParseError
from ..store import reduce, views
from .changes import _started
from .databases import MAX_ROWS, _body_object, _boolean, _positive_int
from .messages import ChunkedResponse, JSONResponse, dumps, loads

__all__ = ["view", "view_queries", "design_info", "view_cleanup"]

_JSON_PARAMS = frozenset({"key", "keys", "startkey", "start_key", "endkey", "end_key"})
_BOOLEANS = {"reduce": "reduce", "group": "group", "inclusive_end": "inclusive_end",
             "include_docs": "include_docs", "update_seq": "update_seq", "conflicts": "conflicts",
             "sorted": "sorted", "attachments": "attachments", "att_encoding_info": "att_encoding_info",
             "descending": "descending"}
_KEY_PARAMS = {"key": "key", "keys": "keys", "startkey": "start", "start_key": "start", "endkey": "end",
               "end_key": "end"}
# The ``ref``s CouchDB 3.4.3 answers view queries with (hashes of the stacks it caught them on): every
# 500 (a design function's error, a time-out, a built-in reduce's bad input) has its view coordinator's;
# a key range that cannot match has its own.
FAILED_VIEW_REF = 4061830036
REVERSED_RANGE_REF, REVERSED_DESCENDING_RANGE_REF = 3865780518, 3146344769
_DOCID_PARAMS = {"startkey_docid": "start_docid", "start_key_doc_id": "start_docid",
                 "endkey_docid": "end_docid", "end_key_doc_id": "end_docid"}


class ViewQuery:
    """One view query's arguments (``#mrargs{}``)."""

    def __init__(self, params):
        self.start = self.end = views.UNSET
        self.keys = None
        self.start_docid = self.end_docid = None
        self.descending = False
        self.reduce = self.group = self.group_level = None
        self.inclusive_end, self.include_docs, self.update_seq = True, False, False
        self.conflicts = None
        self.sorted, self.stable, self.update = True, False, "true"
        self.attachments = self.att_encoding_info = False
        self.limit, self.skip = None, 0
        for name, value, decoded in params:
            self._read(name, value if decoded or name not in _JSON_PARAMS else loads(value), decoded)

    def _read(self, name, value, decoded):
        if name in _KEY_PARAMS:
            self._read_key(_KEY_PARAMS[name], value)
        elif name in _DOCID_PARAMS:
            docid = value if isinstance(value, str) else dumps(value).decode().rstrip("\n")
            setattr(self, _DOCID_PARAMS[name], docid)
        elif name in ("limit", "skip", "group_level"):
            setattr(self, name, _positive_int(value, decoded))
        elif name in _BOOLEANS:
            setattr(self, _BOOLEANS[name], _boolean(value, decoded))
        elif name in ("stable", "update"):
            self._read_choice(name, value)
        elif name == "stale":
            self._read_stale(value)

    def _read_key(self, what, value):
        if what == "keys" and not (isinstance(value, list) and len(value) == 1):
            self.keys = value
            return
        if what == "keys":
            value = value[0]
        if what in ("key", "keys", "start"):
            self.start = value
        if what in ("key", "keys", "end"):
            self.end = value

    def _read_choice(self, name, value):
        text = str(value).lower() if isinstance(value, bool) else value
        allowed = ("true", "false", "lazy") if name == "update" else ("true", "false")
        if text not in allowed:
            raise QueryParseError(f"Invalid value for `{name}`.")
        setattr(self, name, text if name == "update" else text == "true")

    def _read_stale(self, value):
        if value == "ok":
            self.stable, self.update = True, "false"
        elif value == "update_after":
            self.stable, self.update = True, "lazy"
        else:
            raise QueryParseError("Invalid value for `stale`.")

    def check(self, reduce_source):
        """``couch_mrview_util:validate_args/1`` for a view with (or without) a reduce function."""
        kind = "red" if reduce_source is not None else "map"
        level = self._group_level()
        if kind == "map" and self.reduce is True:
            raise QueryParseError("Reduce is invalid for map-only views.")
        if kind == "red" and self.reduce is not False:
            if level != "exact" and isinstance(self.keys, list):
                raise QueryParseError("Multi-key fetches for reduce views must use `group=true`")
        else:
            kind = "map" if kind == "map" or self.reduce is False else kind
        self._check_keys()
        if kind == "map" and level not in (0, None):
            raise QueryParseError("Invalid use of grouping on a map view.")
        if reduce_source is not None and self.reduce is not False and self.include_docs:
            raise QueryParseError("`include_docs` is invalid for reduce")
        if reduce_source is not None and self.reduce is not False and self.conflicts is not None:
            raise QueryParseError("`conflicts` is invalid for reduce views.")
        self._check_range()
        self.level = level
        self.reducing = reduce_source is not None and self.reduce is not False

    def _group_level(self):
        if self.group is False and self.group_level is not None and self.group_level > 0:
            raise QueryParseError("Can't specify group=false and group_level>0 at the same time")
        if self.group is True and self.group_level is None:
            return "exact"
        return self.group_level or 0

    def _check_keys(self):
        keys = self.keys
        if keys is None:
            return
        if not isinstance(keys, list):
            raise QueryParseError("`keys` must be an array of strings.")
        if keys and (self.start is not views.UNSET or self.end is not views.UNSET):
            raise QueryParseError("`keys` is incompatible with `key`, `start_key` and `end_key`")

    def _check_range(self):
        # The same key both ends (Erlang's =:=: 0 is not false, 1 is not 1.0) is no range to check.
        unset = views.UNSET
        if self.start is unset or self.end is unset or json.dumps(self.start) == json.dumps(self.end):
            return
        high = views.AFTER_IDS
        start = (views.encode_key(self.start), self.start_docid or (high if self.descending else ""))
        end = (views.encode_key(self.end), self.end_docid or ("" if self.descending else high))
        if not self.descending and start > end:
            raise QueryParseError("No rows can match your key range, reverse your start_key and end_key or "
                                  "set descending=true").with_ref(REVERSED_RANGE_REF)
        if self.descending and start < end:
            raise QueryParseError("No rows can match your key range, reverse your start_key and end_key or "
                                  "set descending=false").with_ref(REVERSED_DESCENDING_RANGE_REF)


def _params(req, body):
    params = [(name, value, True) for name, value in body.items() if name != "queries"]
    params += [(name, value, False) for name, value in req.query.raw.items()]
    return params


def _index(req):
    """``(index, view, reduce_source)`` of the request's view; 404s as CouchDB words them."""
    ddoc_id, name = req.params["doc"], req.params["view"]
    index = req.db.view_index(ddoc_id)
    found = index.group.view(name)
    if found is None:
        raise NotFound("missing_named_view")
    return index, found[0], found[1]


async def _prepared(req, q):
    index, view, reduce_source = _index(req)
    q.check(reduce_source)
    if q.update == "true":
        await index.update()
    elif index.ix is None:
        index.update_seq = 0
    return index, view, reduce_source


def _as_couchdb_fails(handler):
    """A view handler whose 500s carry CouchDB's ``ref``."""
    @functools.wraps(handler)
    async def answer(req):
        try:
            return await handler(req)
        except CouchError as err:
            if err.status == 500 and err.ref is None:
                raise err.with_ref(FAILED_VIEW_REF) from None
            raise
    return answer


@_as_couchdb_fails
async def view(req):
    body = await _body_object(req)
    if req.method == "POST" and "keys" in body and not isinstance(body["keys"], list):
        raise BadRequest("`keys` member must be an array.")
    q = ViewQuery(_params(req, body))
    index, view_, reduce_source = await _prepared(req, q)
    if q.update == "lazy":
        answer = await _answer(req.db, index, view_, reduce_source, q)
        await index.update()
        return JSONResponse(answer)
    return ChunkedResponse(await _started(_stream(req.db, index, view_, reduce_source, q)))


@_as_couchdb_fails
async def view_queries(req):
    body = await _body_object(req)
    queries = body.get("queries")
    if not isinstance(queries, list):
        raise BadRequest("Missing JSON list of 'queries'.")
    results = []
    for spec in queries:
        if not isinstance(spec, dict):
            raise BadRequest("Query must be a JSON object")
        q = ViewQuery(_params(req, {}) + [(k, v, True) for k, v in spec.items()])
        index, view_, reduce_source = await _prepared(req, q)
        results.append(await _answer(req.db, index, view_, reduce_source, q))
    return JSONResponse({"results": results})


async def _answer(db, index, view_, reduce_source, q):
    head, rows = _result(db, index, view_, reduce_source, q)
    answer = dict(head)
    answer["rows"] = [row async for row in _each(rows)]
    return answer


async def _each(rows):
    """The rows of ``_result``: a map query's iterator or a reduce's async iterator."""
    if hasattr(rows, "__aiter__"):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


async def _stream(db, index, view_, reduce_source, q):
    """The answer in chunks; the first holds the first row, so an error finding it (a reduce that
    fails) is answered as an error (``changes._started``), not inside a 200."""
    head, rows = _result(db, index, view_, reduce_source, q)
    start = dumps(head)[:-2] + (b',"rows":[\r\n' if head else b'"rows":[\r\n')
    first = True
    async for row in _each(rows):
        chunk = dumps(row)[:-1]
        yield start + chunk if first else b",\r\n" + chunk
        first = False
    yield (start if first else b"") + b"\r\n]}\n"


def _result(db, index, view_, reduce_source, q):
    """``(head members, rows)``: a map query's ``total_rows``/``offset``, or a reduce's nothing."""
    if index.ix is None:
        head = {} if q.reducing else {"total_rows": 0, "offset": 0}
        if q.update_seq:
            head["update_seq"] = index.update_seq
        return head, iter(())
    if q.reducing:
        head = {"update_seq": index.update_seq} if q.update_seq else {}
        return head, _reduced(index, view_, reduce_source, q)
    total = index.total_rows(view_.number)
    head = {"total_rows": total}
    if q.keys is None:
        offset = index.offset(view_.number, q.start, q.start_docid, q.descending)
        head["offset"] = min(total, offset + q.skip)
    else:
        rows, offset = _keys_offset(index, view_, q)
        head["offset"] = min(total, offset)
        if q.update_seq:
            head["update_seq"] = index.update_seq
        return head, _map_rows(db, index, view_, q, rows)
    if q.update_seq:
        head["update_seq"] = index.update_seq
    return head, _map_rows(db, index, view_, q)


def _keys_offset(index, view_, q):
    """``(rows, offset)`` of a multi-key fetch. CouchDB reports the offset where its fold first finds a
    row: the rows before the first key that has any (else before the last key; none for no keys), plus
    ``skip``."""
    keys = q.keys[::-1] if q.descending else q.keys
    rows, offset = [], None
    for position, key in enumerate(keys, 1):
        found = list(index.rows(view_.number, start=key, end=key, start_docid=q.start_docid,
                                end_docid=q.end_docid, inclusive_end=q.inclusive_end,
                                descending=q.descending))
        # By position: ``key is keys[-1]`` held for an equal small int or None earlier in the list.
        if offset is None and (found or position == len(keys)):
            offset = index.offset(view_.number, key, q.start_docid, q.descending)
        rows.extend(found)
    return rows, (offset or 0) + q.skip


def _page(q):
    """Whether each row in turn is shown (``skip`` rows are not), ending when ``limit`` rows were."""
    yield from itertools.repeat(False, q.skip)
    limit = min(q.limit, MAX_ROWS) if q.limit is not None else None
    yield from itertools.repeat(True) if limit is None else itertools.repeat(True, limit)


def _limited(rows, q):
    for shown, row in zip(_page(q), rows, strict=False):
        if shown:
            yield row


def _raw_rows(index, view_, q):
    if q.keys is None:
        return index.rows(view_.number, start=q.start, end=q.end, start_docid=q.start_docid,
                          end_docid=q.end_docid, inclusive_end=q.inclusive_end, descending=q.descending)
    return _rows_for_keys(index, view_, q)


def _rows_for_keys(index, view_, q):
    """Each key's rows as a range of its own (``couch_mrview_util:key_opts/2``): the doc-id bounds and
    ``inclusive_end`` apply to every key."""
    keys = q.keys[::-1] if q.descending else q.keys
    for key in keys:
        yield from index.rows(view_.number, start=key, end=key, start_docid=q.start_docid,
                              end_docid=q.end_docid, inclusive_end=q.inclusive_end, descending=q.descending)


def _map_rows(db, index, view_, q, rows=None):
    options = {"conflicts": bool(q.conflicts), "attachments": q.attachments,
               "att_encoding_info": q.att_encoding_info}
    rows = _raw_rows(index, view_, q) if rows is None else rows
    for _, doc_id, key_json, value_json in _limited(rows, q):
        row = {"id": doc_id, "key": json.loads(key_json), "value": json.loads(value_json)}
        if q.include_docs:
            row["doc"] = _include_doc(db, doc_id, row["value"], options)
        yield row


def _include_doc(db, doc_id, value, options):
    """The document a row names: its ``_id`` (and ``_rev``) if the value is an object with one (linked
    documents), else the row's own; ``null`` when gone."""
    rev = None
    if isinstance(value, dict) and "_id" in value:
        doc_id, rev = value["_id"], value.get("_rev")
    try:
        return db.get(doc_id, rev, **options)
    except NotFound:
        return None
    except BadRequest:
        return None


def _group_key(key, level):
    if level == "exact":
        return key
    if isinstance(key, list):
        return key[:level]
    return key


async def _reduced(index, view_, reduce_source, q):
    """Reduced rows, one per group, then skip and limit as ``_limited`` applies them (a skipped group is
    reduced too, as CouchDB's fold reduces it); a JavaScript reduce is awaited, natively off the event
    loop."""
    for shown, (key, reduction) in zip(_page(q), _groups(index, view_, reduce_source, q), strict=False):
        value = await reduction()
        if shown:
            yield {"key": key, "value": value}


async def _ready(value):
    return value


def _counted(index, view_, q):
    """``_count`` over a range, or by exact key, counted by SQLite."""
    counts = index.counts(view_.number, grouped=q.level == "exact", start=q.start, end=q.end,
                          start_docid=q.start_docid, end_docid=q.end_docid, inclusive_end=q.inclusive_end,
                          descending=q.descending)
    for key_json, count in counts:
        yield None if key_json is None else json.loads(key_json), functools.partial(_ready, count)


def _groups(index, view_, reduce_source, q):
    """``(key, reduction)`` per group of consecutive rows whose (truncated) keys collate equal, where
    ``await reduction()`` is the group's value. Rows stay as stored (key bytes and JSON text) until a
    reduce needs them decoded."""
    qs = index.query_server
    if reduce_source.startswith("_count") and q.keys is None and q.level in (0, "exact"):
        yield from _counted(index, view_, q)
        return
    if q.level == 0 and q.keys is None:
        rows = list(_raw_rows(index, view_, q))
        if rows:
            yield None, functools.partial(reduce.reduce_rows, reduce_source, rows, qs)
        return
    group_bytes, group_key, rows = None, None, []
    last_json, last_group = None, None
    for row in _raw_rows(index, view_, q):
        if q.level == "exact" or not row[2].startswith("["):
            gbytes = row[0]
        elif row[2] == last_json:
            gbytes = last_group
        else:
            gbytes = views.encode_key(json.loads(row[2])[:q.level])
            last_json, last_group = row[2], gbytes
        if gbytes != group_bytes:
            if rows:
                yield group_key, functools.partial(reduce.reduce_rows, reduce_source, rows, qs)
                rows = []
            group_bytes, group_key = gbytes, _group_key(json.loads(row[2]), q.level)
        rows.append(row)
    if rows:
        yield group_key, functools.partial(reduce.reduce_rows, reduce_source, rows, qs)


async def design_info(req):
    index = req.db.view_index(req.params["doc"])
    name = req.params["doc"][len("_design/"):]
    return JSONResponse({"name": name, "view_index": index.info()})


async def view_cleanup(req):
    req.db.view_cleanup()
    return JSONResponse({"ok": True}, status=202)
