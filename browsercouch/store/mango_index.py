"""Mango JSON indexes: their definitions in design documents, and their rows in SQLite.

An index lives where CouchDB keeps it, in a design document with ``"language": "query"`` (so it
replicates), as a view whose ``map`` is the definition (``mango_idx_view:add/2``)::

    {"_id": "_design/D", "language": "query",
     "views": {"NAME": {"map": {"fields": {"a": "asc"}, "partial_filter_selector": {}},
                        "reduce": "_count", "options": {"def": {"fields": ["a"]}}}}}

Its rows are a SQLite table per definition (``signature``: indexes with the same fields and partial
filter share one, as CouchDB shares a view by signature). A row is a live, non-design document that has
every indexed field and matches the partial filter (``mango_native_proc:get_index_entries/2``): ``key`` is
``encode_key([value, ...])``, bytes whose order (SQLite compares BLOBs with ``memcmp``) is CouchDB's view
collation, so a range of the index is a range of ``key``; ties go to ``doc_id`` in code point order, as
CouchDB's view B-trees break them by raw document id.

Rows are brought up to date from the changes feed before a query (``refresh``), as CouchDB's views are,
not on every write: a write costs the same with or without indexes, an index nobody queries costs
nothing, and ``update: false`` reads the index as it stands.

``encode_key`` (a prefix-free encoding, so concatenation keeps the order):
``null`` 01, ``false`` 02, ``true`` 03, numbers 04 + a float64 whose bytes sort as the numbers do,
strings 05 + the four levels of ``mango.sort_key`` (primary, secondary, tertiary weights, then the code
points in UTF-8 with 00 escaped as 00 01, ended by 00 00), arrays 06 + elements + 00, objects 07 +
(01 + key + value) per member + 00. ``MAX`` (FF) sorts after every value: an open upper bound.
"""

import asyncio
import hashlib
import json
import struct
from typing import NamedTuple

from ..errors import BadRequest, Conflict, InternalError, NotFound, ServiceUnavailable
from .erlang_terms import Atom, term_to_binary
from .mango import (
    BAD_PATH,
    NOT_FOUND,
    compile_node,
    erlang_term,
    get_field,
    node_to_json,
    normalize,
    parse_field,
    sort_key,
)

__all__ = ["Index", "ALL_DOCS", "encode_key", "encode_prefix", "MAX", "indexes_of_ddoc", "IndexRows",
           "list_indexes", "refresh", "create_index", "delete_index", "bulk_delete", "list_answer",
           "LIST_RANGES", "encode_number"]

MAX = b"\xff"
# Changes read per transaction while an index catches up; the event loop gets a turn between them.
REFRESH_BATCH = 1000
# Rows read from an index per SQLite statement while a query walks it.
SCAN_PAGE = 500

STATE_SCHEMA = """CREATE TABLE IF NOT EXISTS mango_indexes (
    signature TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID"""
CREATE_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    key BLOB NOT NULL,
    doc_id TEXT NOT NULL,
    vals TEXT NOT NULL,
    PRIMARY KEY (key, doc_id)
) WITHOUT ROWID"""
CREATE_DOC_INDEX = "CREATE INDEX IF NOT EXISTS {table}_by_doc ON {table} (doc_id)"
GET_SEQ = "SELECT seq FROM mango_indexes WHERE signature = :sig"
# Two queries may catch the same index up at once: the position only moves forward.
PUT_SEQ = """INSERT INTO mango_indexes (signature, seq) VALUES (:sig, :seq)
             ON CONFLICT (signature) DO UPDATE SET seq = max(seq, excluded.seq)"""
LIST_SIGS = "SELECT signature FROM mango_indexes"
DROP_SIG = "DELETE FROM mango_indexes WHERE signature = :sig"
DROP_TABLE = "DROP TABLE IF EXISTS {table}"
DELETE_ROWS = "DELETE FROM {table} WHERE doc_id = ?"
INSERT_ROW = "INSERT OR REPLACE INTO {table} (key, doc_id, vals) VALUES (?, ?, ?)"
# (descending, resuming) -> the range condition; a resumed scan starts at (:key, :id) itself.
SCAN = {
    (False, False): "key >= :lo AND key <= :hi",
    (False, True): "(key, doc_id) >= (:key, :id) AND key <= :hi",
    (True, False): "key <= :hi AND key >= :lo",
    (True, True): "(key, doc_id) <= (:key, :id) AND key >= :lo",
}
AFTER = {False: "(key, doc_id) > (:key, :id) AND key <= :hi",
         True: "(key, doc_id) < (:key, :id) AND key >= :lo"}
SCAN_SQL = "SELECT key, doc_id, vals FROM {table} WHERE {where} ORDER BY key {order}, doc_id {order} LIMIT :n"


class Index(NamedTuple):
    """One Mango index: ``ddoc`` is ``None`` and ``type`` ``"special"`` for ``_all_docs``; ``fields`` are
    ``(name, "asc"|"desc")``; ``partial`` is the normalised partial filter node or ``None``."""

    ddoc: str | None
    name: str
    type: str
    fields: tuple
    partial: tuple | None
    partial_json: dict | None

    def __hash__(self):
        return hash((self.ddoc, self.name, self.type))

    @property
    def columns(self):
        return [name for name, _ in self.fields]

    def to_json(self):
        """The index as ``GET /db/_index`` lists it (``mango_idx_view:to_json/1``)."""
        fields = [{name: direction} for name, direction in self.fields]
        if self.type == "special":
            return {"ddoc": None, "name": self.name, "type": "special", "def": {"fields": fields}}
        definition = {"fields": fields}
        if self.partial_json:
            definition["partial_filter_selector"] = self.partial_json
        return {"ddoc": self.ddoc, "name": self.name, "type": self.type, "partitioned": False,
                "def": definition}

    @property
    def signature(self):
        """What the rows depend on: the columns and the partial filter."""
        text = json.dumps([self.columns, self.partial_json or {}], sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def table(self):
        return f"mango_{self.signature}"

    def order_key(self):
        """The order of ``mango_idx:list/1`` (Erlang records: ``_all_docs``, whose ddoc is an atom, first)."""
        return (self.ddoc is not None, self.ddoc or "", self.name)


ALL_DOCS = Index(None, "_all_docs", "special", (("_id", "asc"),), None, None)


# ---------------------------------------------------------------------------------------------------------
# Definitions (``mango_sort:new/1``, ``mango_idx_view:validate_new/2``, ``from_ddoc/1``)


def parse_sort(value):
    """``[(field, direction)]`` of a ``sort`` or index ``fields`` member, as ``mango_sort:new/1`` checks
    them (``BadRequest`` with CouchDB's error names)."""
    if not isinstance(value, list):
        raise BadRequest(f"Sort must be an array of sort specs, not: {_erlang_pretty(value)}",
                         error="invalid_sort_json")
    fields = []
    for spec in value:
        if spec == "":
            raise BadRequest('Invalid sort field: <<>>', error="invalid_sort_field")
        if isinstance(spec, str):
            fields.append((spec, "asc"))
        elif isinstance(spec, dict) and len(spec) == 1 and tuple(spec.values())[0] in ("asc", "desc"):
            fields.append(tuple(spec.items())[0])
        else:
            raise BadRequest(f"Invalid sort field: {_erlang_pretty(spec)}", error="invalid_sort_field")
    if len({direction for _, direction in fields}) > 1:
        raise BadRequest("Sorts currently only support a single direction for all fields.",
                         error="unsupported_mixed_sort")
    return tuple(fields)


def _erlang_pretty(value):
    """``~p`` of EJSON; for the short values of error reasons it is ``~w`` with printable binaries as
    ``<<"text">>``."""
    if isinstance(value, str) and value.isascii() and value.isprintable():
        return '<<"' + value.replace("\\", "\\\\").replace('"', '\\"') + '">>'
    if isinstance(value, list):
        return "[" + ",".join(map(_erlang_pretty, value)) + "]"
    if isinstance(value, dict):
        members = (f"{{{_erlang_pretty(k)},{_erlang_pretty(v)}}}" for k, v in value.items())
        return "{[" + ",".join(members) + "]}"
    return erlang_term(value)


def validate_definition(definition):
    """``(fields, partial_node)`` of an index definition, or ``BadRequest`` as CouchDB words it."""
    if not isinstance(definition, dict):
        raise BadRequest(f"JSON indexes must be an object, not: {erlang_term(definition)}",
                         error="invalid_index")
    if "fields" not in definition:
        raise BadRequest("Missing required key: fields", error="missing_required_key")
    fields = parse_sort(definition["fields"])
    partial = definition.get("partial_filter_selector", {})
    if not isinstance(partial, dict):
        raise BadRequest(f"Selector must be a JSON object, not: {erlang_term(partial)}",
                         error="invalid_selector_json")
    node = normalize(partial) if partial else None
    for key in definition:
        if key not in ("fields", "partial_filter_selector"):
            raise BadRequest(f"Invalid key {key} for this request.", error="invalid_key")
    return fields, node


def view_of(fields, partial_json, raw_definition):
    """The view member an index adds to its design document (``mango_idx_view:make_view/1``)."""
    return {"map": {"fields": dict(fields), "partial_filter_selector": partial_json or {}},
            "reduce": "_count", "options": {"def": raw_definition}}


def indexes_of_ddoc(doc):
    """The JSON indexes of a ``"language": "query"`` design document; views that are no valid
    definition are skipped, as CouchDB skips them (``mango_idx_view:from_ddoc/1``)."""
    views = doc.get("views")
    if doc.get("language") != "query" or not isinstance(views, dict):
        return []
    found = []
    for name, view in views.items():
        try:
            found.append(_index_of_view(doc["_id"], name, view))
        except (BadRequest, TypeError, ValueError, AttributeError, KeyError):
            continue
    return found


def _index_of_view(ddoc, name, view):
    mapping = view["map"]
    if not isinstance(view.get("options"), dict) or not isinstance(mapping, dict):
        raise ValueError("not an index")
    fields = tuple(_view_fields(mapping["fields"]))
    partial_json = mapping.get("partial_filter_selector") or None
    partial = normalize(partial_json) if partial_json else None
    for field in fields:
        parse_field(field[0])
    return Index(ddoc, name, "json", fields, partial, partial_json)


def _view_fields(fields):
    """A stored map's ``fields``: ``{"a": "asc"}`` (or, as some writers leave it, a sort list)."""
    if isinstance(fields, dict):
        return fields.items()
    return parse_sort(fields)


# ---------------------------------------------------------------------------------------------------------
# Keys


_DOUBLE = struct.Struct(">d")


def encode_number(value):
    """A number's 8 bytes made to compare as the numbers do (an IEEE double with the sign bit set on
    positives, every bit flipped on negatives); integers past a double's range as infinities."""
    try:
        number = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0: they collate equal
    except OverflowError:
        number = float("inf") if value > 0 else float("-inf")
    bits = int.from_bytes(_DOUBLE.pack(number), "big")
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return bits.to_bytes(8, "big")


def _string(text, out):
    primary, secondary, tertiary, _ = sort_key(text)[1]
    for weight in primary:
        out.append(1)
        out += weight.to_bytes(3, "big")
    out.append(0)
    for marks in secondary:
        out.append(1)
        for mark in marks:
            out.append(1)
            out += mark.to_bytes(3, "big")
        out.append(0)
    out.append(0)
    out += bytes(1 + level for level in tertiary)
    out.append(0)
    out += text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\x01")
    out += b"\x00\x00"


def _encode(value, out):
    if value is None:
        out.append(1)
    elif value is False:
        out.append(2)
    elif value is True:
        out.append(3)
    elif isinstance(value, (int, float)):
        out.append(4)
        out += encode_number(value)
    elif isinstance(value, str):
        out.append(5)
        _string(value, out)
    elif isinstance(value, list):
        out.append(6)
        for item in value:
            _encode(item, out)
        out.append(0)
    else:
        out.append(7)
        for key, item in value.items():
            out.append(1)
            _string(key, out)
            _encode(item, out)
        out.append(0)


def encode_key(value):
    """Bytes that sort (``memcmp``) as ``value`` collates among JSON values (``mango.sort_key``)."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def encode_prefix(values):
    """The key of an array that starts with ``values``, left open: ``encode_key(values)`` without its
    end, so ``prefix + MAX`` is above every array that starts with them."""
    return encode_key(list(values))[:-1]


# ---------------------------------------------------------------------------------------------------------
# Rows in SQLite


def index_values(paths, doc):
    """The values ``doc`` has at ``paths`` (an index's parsed columns), or ``None`` if one is missing."""
    values = []
    for path in paths:
        value = get_field(doc, path)
        if value is NOT_FOUND or value is BAD_PATH:
            return None
        values.append(value)
    return values


class IndexRows:
    """The SQLite rows of the JSON indexes of one database, over its ``Storage`` (``conn`` and
    ``transaction()``); every statement of these tables is here."""

    def __init__(self, storage):
        self._storage = storage
        storage.conn.execute(STATE_SCHEMA)

    def _ensure(self, index):
        for sql in (CREATE_TABLE, CREATE_DOC_INDEX):
            self._storage.conn.execute(sql.format(table=index.table))

    def seq(self, index):
        row = self._storage.conn.execute(GET_SEQ, {"sig": index.signature}).fetchone()
        return row[0] if row else None

    def apply(self, index, changes, seq, fresh=False):
        """Replace the rows of the documents in ``changes`` (``(doc_id, doc_or_None)``) and record that
        the index now reflects the database up to ``seq``; one transaction. ``fresh``: the index has no
        rows yet, so there are none to delete."""
        matches = compile_node(index.partial)
        paths = [parse_field(column) for column in index.columns]
        rows = []
        for doc_id, doc in changes:
            if doc is None or doc_id.startswith("_design/") or not matches(doc):
                continue
            values = index_values(paths, doc)
            if values is not None:
                rows.append((encode_key(values), doc_id, json.dumps(values, ensure_ascii=False)))
        with self._storage.transaction():
            self._ensure(index)
            conn = self._storage.conn
            if not fresh or self.seq(index) is not None:  # another query may have started it meanwhile
                conn.executemany(DELETE_ROWS.format(table=index.table), [(doc_id,) for doc_id, _ in changes])
            conn.executemany(INSERT_ROW.format(table=index.table), rows)
            conn.execute(PUT_SEQ, {"sig": index.signature, "seq": seq})

    def scan(self, index, lo, hi, descending, resume=None):
        """Yield ``(key, doc_id, values)`` with ``lo <= key <= hi`` in index order (reversed when
        ``descending``), from ``resume`` (``(key, doc_id)``, that row included) if given. Read a page
        at a time, each page after the last row of the one before."""
        if self.seq(index) is None:
            return
        order = "DESC" if descending else "ASC"
        params = {"lo": lo, "hi": hi, "n": SCAN_PAGE}
        where = SCAN[descending, False]
        if resume is not None:
            params["key"], params["id"] = resume
            where = SCAN[descending, True]
        while True:
            sql = SCAN_SQL.format(table=index.table, where=where, order=order)
            rows = self._storage.conn.execute(sql, params).fetchall()
            for key, doc_id, vals in rows:
                yield key, doc_id, json.loads(vals)
            if len(rows) < SCAN_PAGE:
                return
            params["key"], params["id"] = rows[-1][0], rows[-1][1]
            where = AFTER[descending]

    def drop_unused(self, signatures):
        """Drop the tables of indexes whose signature is not in ``signatures`` (no design document
        defines them any more)."""
        with self._storage.transaction():
            for (sig,) in self._storage.conn.execute(LIST_SIGS).fetchall():
                if sig not in signatures:
                    self._storage.conn.execute(DROP_TABLE.format(table=f"mango_{sig}"))
                    self._storage.conn.execute(DROP_SIG, {"sig": sig})


async def refresh(db, rows, index):
    """Bring ``index``'s rows up to the database's current sequence from the changes feed, a batch per
    transaction, with a turn of the event loop between batches."""
    target = db.update_seq
    seq = rows.seq(index)
    fresh, seq = seq is None, seq or 0
    while seq < target:
        batch = db.changed_docs(seq, REFRESH_BATCH)
        seq = batch[-1][1] if batch else target
        rows.apply(index, [(doc_id, doc) for doc_id, _, doc in batch], seq, fresh)
        fresh = False
        await asyncio.sleep(0)


# ---------------------------------------------------------------------------------------------------------
# Indexes as design documents (``mango_idx``, ``mango_httpd:handle_index_req/2``)

_DESIGN_START, _DESIGN_END = "_design/", "_design0"


def _design_docs(db):
    for doc_id, _ in db.all_docs(start_key=_DESIGN_START, end_key=_DESIGN_END, inclusive_end=False):
        try:
            yield db.get(doc_id)
        except NotFound:
            continue


def list_indexes(db):
    """``_all_docs``, then every JSON index of the database in CouchDB's order (``mango_idx:list/1``)."""
    found = [index for doc in _design_docs(db) for index in indexes_of_ddoc(doc)]
    return [ALL_DOCS] + sorted(found, key=Index.order_key)


# CouchDB 3.4.3 answers this with a 500, a bug (the client's parameters are wrong): a 400 here.
LIST_RANGES = "Index parameter ranges: limit > 1, skip > 0"


def list_answer(db, limit=None, skip=0):
    """The ``GET /db/_index`` body; ``limit`` and ``skip`` as ``mango_httpd`` checks them."""
    indexes = [index.to_json() for index in list_indexes(db)]
    total = len(indexes)
    limit = total if limit is None else limit
    if limit < 1 or skip < 0:
        raise BadRequest(LIST_RANGES, error="invalid_list_index_params")
    skip = min(skip, total)
    return {"total_rows": total, "indexes": indexes[skip:skip + limit]}


def _auto_name(definition, options):
    """``mango_idx:gen_name/2``: the SHA-1 of the definition and the sorted options."""
    terms = sorted((Atom(key), value) for key, value in options.items())
    return hashlib.sha1(b"\x83" + term_to_binary((definition, terms))).hexdigest()


def _name_option(value, what):
    if value == "":
        raise BadRequest("Index name or ddoc cannot be empty string", error="invalid_empty_string")
    if not isinstance(value, str):
        raise BadRequest(f"Invalid string: {erlang_term(value)}", error="invalid_string")
    return value


def pos_integer(value):
    """``value`` if it is an integer above zero (mango_opts:validate_pos_integer/1), else CouchDB's 400."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"{erlang_term(value)} is not an integer greater than zero",
                         error="invalid_pos_integer")
    return value


def _partitioned(value):
    if not isinstance(value, bool):
        term = f"{{invalid_partitioned_value,{erlang_term(value)}}}"
        raise InternalError(f"Unknown Error: mango_opts :: {term}", error="unknown_error")
    return value


def _create_options(body):
    """The ``POST /db/_index`` members in ``mango_opts:validate_idx_create/1``'s order."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    if "index" not in body:
        raise BadRequest("Missing required key: index", error="missing_required_key")
    options = {"def": body["index"], "type": body.get("type", "json"), "name": Atom("auto_name"),
               "ddoc": Atom("auto_name"), "w": 2, "partitioned": Atom("db_default")}
    if not isinstance(options["type"], str):
        raise BadRequest(f"Invalid string: {erlang_term(options['type'])}", error="invalid_string")
    for key in ("name", "ddoc"):
        if key in body:
            options[key] = _name_option(body[key], key)
    if "w" in body:
        options["w"] = pos_integer(body["w"])
    if "partitioned" in body:
        options["partitioned"] = _partitioned(body["partitioned"])
    for key in body:
        if key not in ("index", "type", "name", "ddoc", "w", "partitioned"):
            raise BadRequest(f"Invalid key {key} for this request.", error="invalid_key")
    return options


def create_index(db, body):
    """``POST /db/_index``: add a JSON index to its design document (made if needed); the answer's
    ``result`` is ``created``, or ``exists`` when the design document already had it."""
    options = _create_options(body)
    if options["type"] in ("text", "nouveau"):
        raise ServiceUnavailable(options["type"], error="required index service unavailable")
    if options["type"] != "json":
        raise BadRequest(f"Invalid type for index: {options['type']}", error="invalid_index")
    raw = options["def"]
    name = options["name"] if not isinstance(options["name"], Atom) else _auto_name(raw, options)
    ddoc_id = options["ddoc"] if not isinstance(options["ddoc"], Atom) else _auto_name(raw, options)
    ddoc_id = ddoc_id if ddoc_id.startswith("_design/") else "_design/" + ddoc_id
    fields, partial = validate_definition(raw)
    doc = _load_ddoc(db, ddoc_id)
    views = doc.get("views") if isinstance(doc.get("views"), dict) else {}
    view = view_of(fields, node_to_json(partial), raw)
    if isinstance(options["partitioned"], bool) and "_rev" not in doc:
        doc["options"] = {"partitioned": options["partitioned"]}
    if json.dumps(views.get(name)) == json.dumps(view) and "_rev" in doc:
        return {"result": "exists", "id": ddoc_id, "name": name}
    doc["views"] = {**views, name: view}
    _save(db, doc)
    return {"result": "created", "id": ddoc_id, "name": name}


def _load_ddoc(db, ddoc_id):
    """The design document to add an index to (``mango_util:load_ddoc/3``): a deleted or missing one is
    a new ``{"language": "query"}``; one of another language is refused."""
    try:
        doc = db.get(ddoc_id)
    except NotFound:
        return {"_id": ddoc_id, "language": "query"}
    if doc.get("language") != "query":
        found = "false"
        if "language" in doc:
            found = f"{{{erlang_term('language')},{erlang_term(doc['language'])}}}"
        raise BadRequest(f"Existing design doc has an invalid language: {found}", error="invalid_ddoc_lang")
    return doc


def _save(db, doc):
    try:
        db.put(doc)
    except Conflict:
        raise InternalError("Encountered a conflict while saving the design document.",
                            error="error_saving_ddoc") from None


def _design_id(name):
    return name if name.startswith("_design/") else "_design/" + name


def _remove(db, index):
    """Take ``index`` out of its design document; a design document left with nothing but its language
    is deleted (``mango_idx:delete/4``)."""
    doc = db.get(index.ddoc)
    views = dict(doc.get("views") or {})
    views.pop(index.name, None)
    if views:
        doc["views"] = views
    else:
        doc.pop("views", None)
    if {key: value for key, value in doc.items() if not key.startswith("_")} == {"language": "query"}:
        doc = {"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True}
    _save(db, doc)


def delete_index(db, ddoc, type_, name):
    """``DELETE /db/_index/DDOC/TYPE/NAME``; ``NotFound`` when there is no such index."""
    ddoc = _design_id(ddoc)
    matching = [ix for ix in list_indexes(db) if ix.ddoc == ddoc and ix.type == type_ and ix.name == name]
    if not matching:
        raise NotFound("missing")
    _remove(db, matching[0])
    return {"ok": True}


def bulk_delete(db, body):
    """``POST /db/_index/_bulk_delete``: every index of the design documents named in ``docids``."""
    docids = body.get("docids") if isinstance(body, dict) else None
    if not isinstance(docids, list) or not all(isinstance(d, str) for d in docids):
        raise BadRequest(f"Bulk Delete requires an array of non-null docids. Docids: {erlang_term(docids)}",
                         error="invalid_bulk_docs")
    indexes = list_indexes(db)
    success, fail = [], []
    for name in docids:
        ddoc = _design_id(name)
        matching = [ix for ix in indexes if ix.ddoc == ddoc]
        if len(matching) != 1:
            fail.insert(0, {"id": ddoc, "error": "not_found"})
            continue
        _remove(db, matching[0])
        success.insert(0, {"id": ddoc, "ok": True})
    return {"success": success, "fail": fail}
