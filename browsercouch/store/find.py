"""Mango queries (``_find``, ``_explain``): the options, the planner and the cursor, as CouchDB 3.4 has them.

A port of ``mango_opts:validate_find/1``, ``mango_idx:get_usable_indexes/4``, ``mango_cursor:create/4``,
``mango_cursor_view`` and ``mango_idx_view`` (field ranges, start and end keys), over the one selector
engine (``mango.py``) and the index rows of ``mango_index.py``.

Theory of operation
-------------------
1. ``parse_request`` validates the body option by option in CouchDB's order, so the first bad option is the
   one CouchDB names, and normalises the selector.
2. ``plan`` lists the indexes (``_all_docs`` and the JSON indexes of ``"language": "query"`` design
   documents), keeps the usable ones (``_usable``: every indexed column, less the sort fields, ``_id`` and
   ``_rev``, is required by the selector; the sort is a prefix of the columns once the constant ones are
   skipped), prefers JSON indexes to ``_all_docs``, and among them the one whose columns cover most of the
   selector's range fields, then the narrowest, then by design document and name (``choose_best_index``).
   A sort no index can give is ``no_usable_index`` (400).
3. The chosen index gives a key range (``_field_ranges``: the tightest bounds the selector puts on each
   column; a contradiction is an empty range and no rows at all); ``run`` walks it in index order (the
   order of the answer: there is no separate sort), loads each document (not when the index covers the
   fields asked for), applies the selector, then ``skip`` and ``limit``.
4. The trailer has the ``bookmark`` (the last row's key and id: the next request starts there and skips
   that row, as CouchDB's does), ``execution_stats`` and CouchDB's warnings.

Bookmarks are opaque to clients: ours are base64url JSON ``[key, doc_id]`` where CouchDB's are Erlang
terms; each server reads only its own.
"""

import base64
import binascii
import json
import re
import time
from typing import NamedTuple

from ..errors import BadRequest, InternalError, NotFound
from . import mango_index
from .mango import (
    BAD_PATH,
    NOT_FOUND,
    collate,
    compile_node,
    erlang_term,
    get_field,
    node_to_json,
    normalize,
    parse_field,
)
from .mango_index import MAX, Index, encode_key, encode_prefix, parse_sort, pos_integer

__all__ = ["find", "explain_request", "parse_request", "plan", "run", "explain", "Cursor", "DEFAULT_LIMIT"]

# [mango] default_limit
DEFAULT_LIMIT = 25
# [mango] index_scan_warning_threshold: more documents examined per result than this earns a warning.
INDEX_SCAN_WARNING_THRESHOLD = 10
NO_INDEX_WARNING = "No matching index found, create an index to optimize query time."
SCAN_WARNING = ("The number of documents examined is high in proportion to the number of results returned. "
                "Consider adding a more specific index to improve this.")
_ARRAY_INDEX = re.compile(r"[+-]?[0-9]+")


class _Bound:
    """The open ends of a range (``mango_json:min()`` and ``max()``), beyond every JSON value."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


MIN, MAX_VALUE = _Bound("MIN"), _Bound("MAX")


# ---------------------------------------------------------------------------------------------------------
# Options (``mango_opts:validate_find/1``)


def _unknown(value_error):
    """An option error CouchDB has no message for: it answers 500 with the Erlang term."""
    return InternalError(f"Unknown Error: mango_opts :: {value_error}", error="unknown_error")


def _non_neg_integer(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{erlang_term(value)} is not an integer greater than or equal to zero",
                         error="invalid_non_neg_integer")
    return value


def _boolean(value):
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid boolean value: {erlang_term(value)}", error="invalid_boolean")
    return value


def _selector(value):
    if not isinstance(value, dict):
        raise BadRequest(f"Selector must be a JSON object, not: {erlang_term(value)}",
                         error="invalid_selector_json")
    return normalize(value) if value else None


def _use_index(value):
    if value is None or value == []:
        return []
    if isinstance(value, str):
        parts = value.split("/")
        if parts[0] == "_design" and len(parts) in (2, 3):
            parts = parts[1:]
        if len(parts) <= 2:
            return parts
    elif isinstance(value, list) and len(value) <= 2 and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest(f"Invalid index name: {erlang_term(value)}", error="invalid_index_name")


def _bookmark(value):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise _unknown(f"{{invalid_bookmark,{erlang_term(value)}}}")


def _fields(value):
    if not isinstance(value, list):
        raise BadRequest(f"Fields must be an array of strings, not: {erlang_term(value)}",
                         error="invalid_fields")
    for field in value:
        if not isinstance(field, str):
            raise BadRequest(f"Invalid JSON for field spec: {erlang_term(field)}", error="invalid_field")
    return list(value) or None


def _partition(value):
    if value == "":
        return value
    if not isinstance(value, str) or value.startswith("_"):
        raise BadRequest("Partition must not start with an underscore")
    raise BadRequest("`partition` parameter is not supported in this db.")


def _stale(value):
    if value in ("ok", False, "false"):
        return value == "ok"
    raise _unknown(f"{{invalid_ok_or_false_value,{erlang_term(value)}}}")


# (member, default, validator), in mango_opts's order: the first failing member is the one reported.
_FIND_OPTIONS = (
    ("selector", None, _selector),
    ("use_index", [], _use_index),
    ("bookmark", None, _bookmark),
    ("limit", DEFAULT_LIMIT, _non_neg_integer),
    ("skip", 0, _non_neg_integer),
    ("sort", (), parse_sort),
    ("fields", None, _fields),
    ("partition", "", _partition),
    ("r", 1, pos_integer),
    ("conflicts", False, _boolean),
    ("stale", False, _stale),
    ("update", True, _boolean),
    ("stable", False, _boolean),
    ("execution_stats", False, _boolean),
    ("allow_fallback", True, _boolean),
)


class Query(NamedTuple):
    """A validated ``_find`` body: ``selector`` is a normalised node (``None`` for ``{}``), ``sort``
    ``((field, direction), ...)``, ``fields`` a list or ``None`` for all."""

    selector: tuple | None
    use_index: list
    bookmark: str | None
    limit: int
    skip: int
    sort: tuple
    fields: list | None
    partition: str
    r: int
    conflicts: bool
    stale: bool
    update: bool
    stable: bool
    execution_stats: bool
    allow_fallback: bool

    def options_json(self):
        """The ``opts`` of ``_explain``."""
        return {"use_index": self.use_index, "bookmark": self.bookmark or "nil", "limit": self.limit,
                "skip": self.skip, "sort": dict(self.sort), "fields": self.fields or [],
                "partition": self.partition, "r": self.r, "conflicts": self.conflicts,
                "stale": "ok" if self.stale else False, "update": self.update, "stable": self.stable,
                "execution_stats": self.execution_stats, "allow_fallback": self.allow_fallback}


def parse_request(body):
    """A ``Query`` from a ``_find``/``_explain`` body; ``BadRequest`` (or CouchDB's 500) naming the first
    bad member, or ``invalid_key`` for a member CouchDB does not know."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    values = {}
    for name, default, validate in _FIND_OPTIONS:
        if name in body:
            values[name] = validate(body[name])
        elif name == "selector":
            raise BadRequest("Missing required key: selector", error="missing_required_key")
        else:
            values[name] = default
    for name in body:
        if name not in values:
            raise BadRequest(f"Invalid key {name} for this request.", error="invalid_key")
    return Query(**values)


# ---------------------------------------------------------------------------------------------------------
# The selector as the planner sees it (``mango_selector`` and ``mango_idx_view`` helpers)

_RANGE_OPERATORS = frozenset(["$lt", "$lte", "$eq", "$gt", "$gte", "$beginsWith", "$exists"])


def _indexable_fields(node):
    """Fields with a condition an index range can use (``mango_idx_view:indexable_fields/1``), sorted."""
    if node is None:
        return []
    key, arg = node
    if key == "$and":
        return sorted({field for child in arg for field in _indexable_fields(child)})
    if key.startswith("$"):
        return []
    return [key] if arg[0] in _RANGE_OPERATORS else []


def _selector_fields(node):
    """Every field the selector names (``mango_selector:fields/1``)."""
    if node is None:
        return []
    key, arg = node
    if key.startswith("$") and isinstance(arg, list):
        return [field for child in arg for field in _selector_fields(child)]
    return [key]


def _remainder(nodes, required):
    """The required fields the selector does not require (``has_required_fields_int/2``)."""
    if not required:
        return []
    if not nodes:
        return required
    if len(nodes) == 1 and nodes[0][0] == "$and":
        return _remainder(nodes[0][1], required)
    (key, arg), rest = nodes[0], nodes[1:]
    if key == "$or":
        left = sorted({field for child in arg for field in _remainder([child], required)})
        return _remainder(rest, left)
    if key == "$and":
        return _remainder(rest, _remainder(arg, required))
    if arg == ("$exists", False):
        return _remainder(rest, required)
    return _remainder(rest, [field for field in required if field != key])


def _has_required_fields(node, required):
    return node is None and not required or node is not None and not _remainder([node], required)


def _is_constant_field(node, field):
    if node is None:
        return False
    key, arg = node
    if key == "$and":
        return any(_is_constant_field(child, field) for child in arg)
    return key == field and arg[0] == "$eq"


def _can_use_sort(columns, sort_fields, node):
    while sort_fields:
        if not columns:
            return False
        if columns[0] == sort_fields[0]:
            return columns[:len(sort_fields)] == sort_fields
        if not _is_constant_field(node, columns[0]):
            return False
        columns = columns[1:]
    return True


def _usable(index, node, sort_fields):
    """``(usable, reasons)``: ``mango_idx_view:is_usable/3`` and ``mango_idx_special:is_usable/3``."""
    if index.type == "special":
        if not sort_fields:
            return True, []
        reasons = []
        if "_id" not in _indexable_fields(node):
            reasons.append("field_mismatch")
        if ["_id"][:len(sort_fields)] != sort_fields:
            reasons.append("sort_order_mismatch")
        return not reasons, reasons
    required = sorted(set(index.columns) - set(sort_fields) - {"_id", "_rev"})
    reasons = []
    if not _has_required_fields(node, required):
        reasons.append("field_mismatch")
    if not _can_use_sort(index.columns, sort_fields, node):
        reasons.append("sort_order_mismatch")
    return not reasons, reasons


# ---------------------------------------------------------------------------------------------------------
# Ranges (``mango_idx_view:field_ranges/1``)


def _cmp(a, b):
    if a is b:
        return 0
    if a is MIN or b is MAX_VALUE:
        return -1
    if a is MAX_VALUE or b is MIN:
        return 1
    return collate(a, b)


def _range_pos(low, arg, high):
    if _cmp(arg, low) < 0:
        return "min"
    if _cmp(arg, low) == 0:
        return "low"
    order = _cmp(arg, high)
    return "mid" if order < 0 else "high" if order == 0 else "max"


def _narrow(op, arg, bounds):
    """The bounds ``(lcmp, low, hcmp, high)`` narrowed by ``op arg``, or ``None`` when empty."""
    lcmp, low, hcmp, high = bounds
    if op == "$beginsWith":
        bounds = _narrow("$gte", arg, bounds)
        return None if bounds is None else _narrow("$lte", arg + "\uffff", bounds)
    if op not in ("$lt", "$lte", "$eq", "$gte", "$gt"):
        return bounds
    pos = _range_pos(low, arg, high)
    exact = ("$eq", arg, "$eq", arg)
    low_inclusive, high_inclusive = lcmp in ("$gte", "$eq"), hcmp in ("$lte", "$eq")
    table = {
        "$lt": {"min": None, "low": None, "mid": (lcmp, low, "$lt", arg), "high": (lcmp, low, "$lt", arg),
                "max": bounds},
        "$lte": {"min": None, "low": exact if low_inclusive else None, "mid": (lcmp, low, "$lte", arg),
                 "high": bounds, "max": bounds},
        "$eq": {"min": None, "low": exact if low_inclusive else None, "mid": exact,
                "high": exact if high_inclusive else None, "max": None},
        "$gte": {"min": bounds, "low": bounds, "mid": ("$gte", arg, hcmp, high),
                 "high": exact if high_inclusive else None, "max": None},
        "$gt": {"min": bounds, "low": ("$gt", arg, hcmp, high), "mid": ("$gt", arg, hcmp, high),
                "high": None, "max": None},
    }
    return table[op][pos]


def _range(node, field, bounds):
    key, arg = node
    if key == "$and":
        for child in arg:
            bounds = _range(child, field, bounds)
            if bounds is None:
                return None
        return bounds
    if key == field:
        return _narrow(arg[0], arg[1], bounds)
    return bounds


EMPTY = "empty"


def _field_ranges(node, fields):
    """``[(field, bounds)]``, or ``[(field, EMPTY)]`` as soon as one field's range is empty."""
    ranges = []
    for field in fields:
        bounds = _range(node, field, ("$gt", MIN, "$lt", MAX_VALUE))
        if bounds is None:
            return [(field, EMPTY)]
        ranges.append((field, bounds))
    return ranges


def _composite_prefix(columns, ranges):
    found = dict(reversed(ranges))
    prefix = []
    for column in columns:
        if column not in found:
            break
        prefix.append(found[column])
    return prefix


def _bounded_prefix(bounds, unbounded):
    """The leading ``bounds`` up to the first that is ``unbounded``."""
    key = []
    for bound in bounds:
        if bound is unbounded:
            break
        key.append(bound)
    return key


def _start_key(ranges):
    return _bounded_prefix((low for _, low, _, _ in ranges), MIN)


def _end_key(ranges):
    return _bounded_prefix((high for _, _, _, high in ranges), MAX_VALUE) + [MAX_VALUE]


# ---------------------------------------------------------------------------------------------------------
# The plan (``mango_idx:get_usable_indexes/4``, ``mango_cursor:create/4``)


class Plan(NamedTuple):
    """The chosen ``index`` (``None`` when ``_explain`` finds none) and its ``ranges`` (``[EMPTY]`` for
    no rows), with what ``_explain`` needs to report about the others (``trace``)."""

    query: Query
    index: Index | None
    ranges: list
    trace: tuple


def _ddoc_id(name):
    return name if name.startswith("_design/") else "_design/" + name


def _by_use_index(indexes, use_index):
    if not use_index:
        return []
    ddoc = _ddoc_id(use_index[0])
    return [ix for ix in indexes if ix.ddoc == ddoc and (len(use_index) == 1 or ix.name == use_index[1])]


def _ddoc_name(name):
    return name[len("_design/"):] if name.startswith("_design/") else name


def plan(indexes, query, *, explaining=False):
    """Choose the index for ``query`` among ``indexes`` (``ALL_DOCS`` first, then the JSON ones in
    ``Index.order_key`` order); raises CouchDB's ``no_usable_index`` or ``invalid_index``."""
    node = query.selector
    global_indexes = [ix for ix in indexes if ix.partial is None]
    specified = _by_use_index(indexes, query.use_index)
    considered = sorted(set(global_indexes) | set(specified), key=Index.order_key)
    sort_fields = [field for field, _ in query.sort]
    usability = [(ix, *_usable(ix, node, sort_fields)) for ix in considered]
    usable = [ix for ix, ok, _ in usability if ok]
    trace = {"all": indexes, "global": global_indexes, "considered": considered, "usable": usable,
             "usability": usability}
    if not usable:
        if not explaining:
            raise BadRequest("No index exists for this sort, try indexing by the sort fields.",
                             error="no_usable_index")
        return Plan(query, None, [], (trace, [], [], []))
    chosen = _by_use_index(usable, query.use_index)
    if not chosen:
        if not (query.allow_fallback or (not query.use_index and len(usable) > 1)):
            raise BadRequest(_invalid_index_reason(query.use_index), error="invalid_index")
        chosen = usable
    of_type = [ix for ix in chosen if ix.type == "json"] or [ix for ix in chosen if ix.type == "special"]
    field_ranges = _field_ranges(node, _indexable_fields(node))
    if of_type[0].type == "special":
        field_ranges = field_ranges + [("_id", ("$gt", None, "$lt", MAX_VALUE))]
    composited = []
    for ix in of_type:
        prefix = _composite_prefix(ix.columns, field_ranges)
        composited.append((ix, prefix, len(field_ranges) - len(prefix)))
    composited.sort(key=lambda entry: (entry[2], len(entry[0].columns), entry[0].ddoc or "", entry[0].name))
    index, ranges = composited[0][0], composited[0][1]
    if EMPTY in ranges or _is_noop(node):
        ranges = [EMPTY]
    return Plan(query, index, ranges, (trace, chosen, of_type, composited))


def _is_noop(node):
    """``mango_cursor:maybe_noop_range/2``: ``{"$or": []}`` and its kind select nothing from an index."""
    return node is not None and node[0] in ("$all", "$and", "$or", "$in") and node[1] == []


def _invalid_index_reason(use_index):
    if not use_index:
        return "You must specify an index with the `use_index` parameter."
    names = ", ".join([_ddoc_name(use_index[0])] + use_index[1:])
    return f"_design/{names} specified by `use_index` could not be found or it is not suitable."


def _covers(index, fields):
    """Whether the index alone has every field the query needs (``mango_idx_view:covers/2``)."""
    if fields is None or index.type != "json":
        return False
    return set(fields) <= {"_id", *index.columns}


def _required_fields(query):
    if query.fields is None:
        return None
    return sorted(set(query.fields) | set(_selector_fields(query.selector)))


def _tag(tags, group, **values):
    """Merge ``values`` into the tags of each index of ``group``: ``usable`` by and, ``reason`` lists by
    concatenation, ``ranking`` by sum (``mango_cursor:enhance_candidates/2``)."""
    for ix in group:
        entry = tags[ix]
        for key, value in values.items():
            if key not in entry:
                entry[key] = value
            elif key == "usable":
                entry[key] = entry[key] and value
            else:
                entry[key] = entry[key] + value


def _candidates(trace, chosen, of_type, winner, composited, fields):
    """``index_candidates`` of ``_explain`` (``mango_cursor:extract_candidate_indexes/1``)."""
    every, global_, considered = set(trace["all"]), set(trace["global"]), set(trace["considered"])
    usable, chosen, of_type = set(trace["usable"]), set(chosen), set(of_type)
    partial, not_usable, excluded, unfavored = every - global_, considered - usable, usable - chosen, \
        chosen - of_type
    rank = max(1, len(composited))
    ranks = [rank]
    for group in (unfavored, excluded, not_usable, set()):
        ranks.append(ranks[-1] + (1 if group else 0))
    unfavored_rank, excluded_rank, not_usable_rank, partial_rank = ranks[0], ranks[1], ranks[2], ranks[4]
    tags = {ix: {} for ix in every}
    _tag(tags, partial, usable=False, reason=["is_partial"], ranking=partial_rank)
    _tag(tags, not_usable, usable=False, ranking=not_usable_rank)
    _tag(tags, excluded, usable=True, reason=["excluded_by_user"], ranking=excluded_rank)
    _tag(tags, unfavored, usable=True, reason=["unfavored_type"], ranking=unfavored_rank)
    _tag(tags, of_type, usable=True)
    for ix, ok, reasons in trace["usability"]:
        if not ok:
            _tag(tags, [ix], reason=reasons)
    width = len(winner.columns) if winner is not None else 0
    for n, (ix, _, distance) in enumerate(composited):
        reason = "less_overlap" if distance > 0 else "too_many_fields" if len(ix.columns) > width \
            else "alphabetically_comes_after"
        _tag(tags, [ix], reason=[reason], ranking=n)
    out = []
    for ix in sorted(every, key=Index.order_key, reverse=True):
        if ix == winner:
            continue
        entry = tags[ix]
        covering = _covers(ix, fields) if ix.type == "json" else None
        out.append({"index": ix.to_json(), "analysis": {
            "usable": entry["usable"], "reasons": [{"name": entry["reason"][0]}], "ranking": entry["ranking"],
            "covering": covering}})
    return out


# ---------------------------------------------------------------------------------------------------------
# Running the plan (``mango_cursor_view:execute/3``)


def _special_bounds(ranges):
    """``(start, end)`` document ids of an ``_all_docs`` scan (``None``: open), or ``None`` if no id can
    be in the range (an end below every string in Erlang's term order)."""
    (lcmp, low, _, high), = ranges
    start = "" if low is MIN else low
    start = start if isinstance(start, str) else None
    if high is MAX_VALUE:
        return start, None
    if not isinstance(high, str):
        return None
    return start, high


def explain_args(plan_):
    """The ``mrargs`` and ``covering`` members of ``_explain``."""
    query, index = plan_.query, plan_.index
    covering = _covers(index, _required_fields(query))
    if plan_.ranges == [EMPTY]:
        start, end = None, None
    elif index.type == "special":
        (lcmp, low, _, high), = plan_.ranges
        start = "" if low is MIN else low
        end = "<MAX>" if high is MAX_VALUE else high
    else:
        start = _start_key(plan_.ranges)
        end = ["<MAX>" if value is MAX_VALUE else value for value in _end_key(plan_.ranges)]
    descending = bool(query.sort) and query.sort[0][1] == "desc"
    if descending:
        start, end = end, start
    return {"mrargs": {
        "include_docs": not covering and query.r == 1, "view_type": "map", "reduce": False, "partition": None,
        "start_key": start, "end_key": end, "direction": "rev" if descending else "fwd",
        "stable": query.stable or query.stale, "update": query.update and not query.stale,
        "conflicts": True if query.conflicts else "undefined"}, "covering": covering}


def explain(db_name, plan_):
    """The ``_explain`` answer for a plan (``mango_cursor:explain/1``)."""
    query = plan_.query
    answer = {
        "dbname": db_name,
        "index": plan_.index.to_json() if plan_.index is not None else None,
        "partitioned": False,
        "selector": node_to_json(query.selector),
        "opts": query.options_json(),
        "limit": query.limit,
        "skip": query.skip,
        "fields": query.fields or [],
        "index_candidates": _candidates(*plan_.trace[:3], plan_.index, plan_.trace[3], query.fields),
        "selector_hints": [_selector_hints(query.selector)],
    }
    if plan_.index is not None:
        answer.update(explain_args(plan_))
    return answer


def _selector_hints(node):
    indexable = _indexable_fields(node)
    return {"type": "json", "indexable_fields": indexable,
            "unindexable_fields": sorted(set(_selector_fields(node)) - set(indexable))}


def decode_bookmark(bookmark):
    """``(key, doc_id)`` of one of our bookmarks, or ``invalid_bookmark``."""
    try:
        key, doc_id = json.loads(base64.urlsafe_b64decode(bookmark + "=" * (-len(bookmark) % 4)))
        if isinstance(doc_id, str):
            return key, doc_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        pass
    raise BadRequest(f"Invalid bookmark value: {json.dumps(bookmark, ensure_ascii=False)}",
                     error="invalid_bookmark")


def encode_bookmark(key, doc_id):
    text = json.dumps([key, doc_id], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii").rstrip("=")


def set_field(value, path, new):
    """``mango_doc:set_field/3``: ``value`` with ``new`` at ``path``, objects made as needed."""
    name, rest = path[0], path[1:]
    if isinstance(value, dict):
        if not rest:
            value[name] = new
        elif name in value:
            value[name] = set_field(value[name], rest, new)
        else:
            nested = new
            for part in reversed(rest):
                nested = {part: nested}
            value[name] = nested
        return value
    if isinstance(value, list) and _ARRAY_INDEX.fullmatch(name) and 0 <= int(name) < len(value):
        position = int(name)
        value[position] = new if not rest else set_field(value[position], rest, new)
    return value


def extract_fields(doc, fields):
    """The document with only ``fields`` (``mango_fields:extract/2``), in the order asked."""
    if fields is None:
        return doc
    out = {}
    for field in fields:
        path = parse_field(field)
        if not path:  # CouchDB checks the names here, when a document matches
            raise BadRequest("Invalid field name: ", error="invalid_field_name")
        value = get_field(doc, path)
        if value is not NOT_FOUND and value is not BAD_PATH:
            out = set_field(out, path, value)
    return out


class Stats:
    """``execution_stats`` (``mango_execution_stats``)."""

    def __init__(self):
        self.keys = self.docs = self.quorum_docs = self.returned = 0
        self.started = time.perf_counter()

    def to_json(self):
        return {"total_keys_examined": self.keys, "total_docs_examined": self.docs,
                "total_quorum_docs_examined": self.quorum_docs, "results_returned": self.returned,
                "execution_time_ms": round((time.perf_counter() - self.started) * 1000, 3)}


class Cursor:
    """One run of a plan: iterate it for the matching documents (already cut to ``fields``), then
    ``trailer()`` for the members after ``docs``."""

    def __init__(self, db, rows, plan_):
        self._db, self._rows, self._plan = db, rows, plan_
        self.stats = Stats()
        self.bookmark = plan_.query.bookmark
        self.empty = plan_.ranges == [EMPTY]
        query = plan_.query
        self._resume = decode_bookmark(query.bookmark) if query.bookmark and not self.empty else None

    def __iter__(self):
        if self.empty:
            return
        plan_, query = self._plan, self._plan.query
        matches = compile_node(query.selector)
        covering = _covers(plan_.index, _required_fields(query))
        skip, limit = query.skip, query.limit
        for key, doc_id, doc in self._matches(matches, covering):
            if limit <= 0:  # CouchDB stops at the first match past the limit, and counts what it read
                return
            self.bookmark = encode_bookmark(key, doc_id)
            if skip > 0:
                skip -= 1
                continue
            limit -= 1
            self.stats.returned += 1
            yield extract_fields(doc, query.fields)

    def _matches(self, matches, covering):
        """``(key, doc_id, doc)`` of the matching rows, counted as CouchDB counts them: its shard adds
        what it examined to the next row it sends, and the coordinator drops design documents' rows,
        with what they carry. With ``r`` above 1 the shard sends every row without its document, and the
        coordinator reads the documents (``total_quorum_docs_examined``)."""
        quorum = self._plan.query.r > 1 and not covering
        keys = docs = 0
        for key, doc_id, values, doc in self._scan(self._resume):
            keys += 1
            if doc is None:
                doc = self._derive(doc_id, values) if covering else self._load(doc_id)
            docs += doc is not None and not covering and not quorum
            if not quorum and (doc is None or not matches(doc)):
                continue
            if doc_id.startswith("_design/"):
                keys = docs = 0
                continue
            self.stats.keys, self.stats.docs = self.stats.keys + keys, self.stats.docs + docs
            keys = docs = 0
            if quorum:
                if doc is None:
                    continue
                self.stats.quorum_docs += 1
                if not matches(doc):
                    continue
            yield key, doc_id, doc
        self.stats.keys, self.stats.docs = self.stats.keys + keys, self.stats.docs + docs

    def _scan(self, resume):
        """``(bookmark key, doc_id, index values, doc or None)`` of the range in index order (the document
        when the scan read it already); from a bookmark, the row it names is skipped (skip + 1, as
        ``mango_json_bookmark:update_args/2`` does)."""
        plan_ = self._plan
        descending = bool(plan_.query.sort) and plan_.query.sort[0][1] == "desc"
        if plan_.index.type == "special":
            rows = self._special_scan(descending, resume)
        else:
            rows = self._json_scan(descending, resume)
        if resume is not None:
            next(rows, None)
        return rows

    def _special_scan(self, descending, resume):
        bounds = _special_bounds(self._plan.ranges)
        if bounds is None:
            return
        start, end = bounds
        if descending:
            start, end = end, start
        if resume is not None:
            start = resume[1]
        if self._plan.query.conflicts:  # the documents' trees are needed: read them one by one
            for doc_id, _ in self._db.all_docs(start_key=start, end_key=end, descending=descending):
                yield doc_id, doc_id, None, None
            return
        for doc_id, doc in self._db.winning_docs(start, end, descending=descending):
            yield doc_id, doc_id, None, doc

    def _json_scan(self, descending, resume):
        ranges = self._plan.ranges
        lo = encode_key(_start_key(ranges))
        hi = encode_prefix(_end_key(ranges)[:-1]) + MAX
        if resume is not None:
            resume = (encode_key(resume[0]), resume[1])
        for _, doc_id, values in self._rows.scan(self._plan.index, lo, hi, descending, resume):
            yield values, doc_id, values, None

    def _derive(self, doc_id, values):
        """The document as far as the index knows it (``derive_doc_from_index/2``)."""
        doc = {"_id": doc_id}
        for column, value in reversed(list(zip(self._plan.index.columns, values, strict=True))):
            doc = set_field(doc, parse_field(column), value)
        return doc

    def _load(self, doc_id):
        query = self._plan.query
        try:
            return self._db.get(doc_id, conflicts=query.conflicts and query.r == 1)
        except NotFound:
            return None

    def trailer(self):
        """``bookmark``, ``execution_stats`` and ``warning``, as CouchDB adds them after the rows."""
        if self.empty:
            return {}
        query = self._plan.query
        out = {"bookmark": self.bookmark or "nil"}
        if query.execution_stats:
            out["execution_stats"] = self.stats.to_json()
        warnings = self._warnings()
        if warnings:
            out["warning"] = "\n".join(warnings)
        return out

    def _warnings(self):
        """``mango_cursor:maybe_add_warning/4``."""
        query, index = self._plan.query, self._plan.index
        warnings = []
        if query.use_index and not _by_use_index([index], query.use_index):
            names = ", ".join([_ddoc_name(query.use_index[0])] + query.use_index[1:])
            if len(query.use_index) == 1:
                warnings.append(f"_design/{names} was not used because it does not contain a valid index "
                                "for this query.")
            else:
                warnings.append(f"_design/{names} was not used because it is not a valid index for this "
                                "query.")
        if index.type == "special":
            warnings.append(NO_INDEX_WARNING)
        examined = self.stats.docs + self.stats.quorum_docs
        ratio = examined / self.stats.returned if self.stats.returned else examined
        if ratio > INDEX_SCAN_WARNING_THRESHOLD:
            warnings.append(SCAN_WARNING)
        return warnings


def run(db, rows, plan_):
    """A ``Cursor`` over ``db`` (its ``all_docs`` and ``get``) and ``rows`` (``IndexRows``)."""
    return Cursor(db, rows, plan_)


async def find(db, rows, body):
    """A ``Cursor`` for a ``_find`` body over ``db``: the plan chosen and its index brought up to date
    (unless ``update: false`` or ``stale: "ok"``)."""
    query = parse_request(body)
    plan_ = plan(mango_index.list_indexes(db), query)
    if plan_.index.type == "json" and plan_.ranges != [EMPTY] and query.update and not query.stale:
        await mango_index.refresh(db, rows, plan_.index)
    return run(db, rows, plan_)


def explain_request(db, body):
    """The ``_explain`` answer for a ``_find`` body."""
    query = parse_request(body)
    return explain(db.name, plan(mango_index.list_indexes(db), query, explaining=True))
