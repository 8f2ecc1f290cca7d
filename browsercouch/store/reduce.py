"""Reduce functions: CouchDB's built-ins in Python, JavaScript ones in the query server.

The built-ins follow ``couch_query_servers.erl`` (3.4.3): ``_sum`` adds numbers, arrays of numbers
element-wise and objects member-wise, and a value it cannot add becomes the reduction
``{"error": "builtin_reduce_error", "reason": ..., "caused_by": value}`` rather than an HTTP error;
``_count`` counts rows; ``_stats`` gives ``{sum, count, min, max, sumsqr}`` of numbers (element-wise for
arrays; objects of those five members are taken as partial stats) and fails the query on anything else;
``_approx_count_distinct`` counts distinct keys (CouchDB estimates with a HyperLogLog; on the small
cardinalities where the estimate is exact both agree).
"""

import json

from ..errors import NotImplementedFeature, QueryServerError
from .mango import erlang_term

__all__ = ["reduce_rows"]

SUM_ERROR = ("The _sum function requires that map values be numbers, arrays of numbers, or objects. "
             "Objects cannot be mixed with other data structures. Objects can be arbitrarily nested, "
             "provided that the values for all fields are themselves numbers, arrays of numbers, or objects.")
STATS_FIELDS = ("sum", "count", "min", "max", "sumsqr")
# Key/value pairs per JavaScript reduce call before the results are re-reduced.
REDUCE_CHUNK = 500


class _SumError(Exception):
    """A value ``_sum`` cannot add (``caused_by``), or with ``passed`` an earlier reduction's error
    object, which becomes the result as it is."""

    def __init__(self, value, passed=False):
        super().__init__(value)
        self.value, self.passed = value, passed


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sum_values(value, acc):
    """``couch_query_servers:sum_values/2``, clause by clause."""
    if _number(value) and _number(acc):
        return acc + value
    if isinstance(value, list) and isinstance(acc, list):
        return _sum_arrays(acc, value)
    if _number(value) and isinstance(acc, list):
        return _sum_arrays(acc, [value])
    if isinstance(value, list) and _number(acc):
        return _sum_arrays([acc], value)
    if isinstance(value, dict):
        if value.get("error") == "builtin_reduce_error":
            raise _SumError(value, passed=True)
        if acc == 0:
            return dict(value)
        if isinstance(acc, dict):
            return _sum_objects(value, acc)
    raise _SumError(value)


def _sum_objects(a, b):
    merged = dict(b)
    for key, value in a.items():
        merged[key] = _sum_values(value, b[key]) if key in b else value
    return dict(sorted(merged.items()))


def _sum_arrays(xs, ys):
    """``sum_arrays/2``: element-wise while both are numbers; the longer one's tail kept; otherwise the
    error names what is left of ``xs`` from there."""
    out = []
    for i in range(max(len(xs), len(ys))):
        if i >= len(ys):
            return out + xs[i:]
        if i >= len(xs):
            return out + ys[i:]
        if not (_number(xs[i]) and _number(ys[i])):
            raise _SumError(xs[i:])
        out.append(xs[i] + ys[i])
    return out


def _sum(values):
    acc = 0
    for value in values:
        try:
            acc = _sum_values(value, acc)
        except _SumError as err:
            if err.passed:
                return err.value
            return {"error": "builtin_reduce_error", "reason": SUM_ERROR, "caused_by": err.value}
    return acc


def _stat_error(value):
    return QueryServerError(
        "The _stats function requires that map values be numbers or arrays of numbers, "
        f"not '{erlang_term(value)}'",
        error="invalid_value")


def _unpack(value):
    if isinstance(value, dict):
        stats = []
        for field in STATS_FIELDS:
            if field not in value:
                raise QueryServerError(
                    f"user _stats input missing required field {field} ({erlang_term(value)})",
                    error="invalid_value")
            if not _number(value[field]):
                raise QueryServerError(
                    f"non-numeric _stats input received for {field}: {erlang_term(value[field])}",
                    error="invalid_value")
            stats.append(value[field])
        return tuple(stats)
    if _number(value):
        return value, 1, value, value, value * value
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    raise QueryServerError(f"non-numeric _stats input: {erlang_term(value)}", error="invalid_value")


def _stat_add(value, acc):
    if isinstance(value, list) and isinstance(acc, list):
        return [_stat_add(v, a) for v, a in zip(value, acc, strict=False)]
    if isinstance(value, dict):
        value = _unpack(value)
    elif _number(value):
        value = (value, 1, value, value, value * value)
    if not isinstance(value, tuple) or not isinstance(acc, tuple):
        raise _stat_error(value)
    return (value[0] + acc[0], value[1] + acc[1], min(value[2], acc[2]), max(value[3], acc[3]),
            value[4] + acc[4])


def _pack(stats):
    if isinstance(stats, list):
        return [_pack(s) for s in stats]
    return dict(zip(STATS_FIELDS, stats, strict=True))


def _stats(values):
    if not values:
        return _pack((0, 0, 0, 0, 0))
    acc = _unpack(values[0])
    for value in values[1:]:
        acc = _stat_add(value, acc)
    return _pack(acc)


def _builtin(source, values):
    return _sum(values) if source.startswith("_sum") else _stats(values)


async def reduce_rows(source, rows, query_server):
    """The reduction by ``source`` of ``rows`` as a view stores them: ``(key_bytes, doc_id, key_json,
    value_json)``; only what the function reads is decoded (``_count`` reads nothing)."""
    if source.startswith("_count"):
        return len(rows)
    if source.startswith("_approx_count_distinct"):
        return len({row[0] for row in rows})
    if source.startswith("_"):
        return _builtin(source, [json.loads(row[3]) for row in rows])
    rows = [(json.loads(k), i, json.loads(v)) for _, i, k, v in rows]
    # A JavaScript reduce sees chunks of rows (``reduce``), then their results (``rereduce``).
    if query_server is None:
        raise NotImplementedFeature("JavaScript reduces need a JavaScript engine, and none was given")
    results = []
    for start in range(0, len(rows), REDUCE_CHUNK):
        chunk = rows[start:start + REDUCE_CHUNK]
        results.append((await query_server.reduce([source], [[[k, i], v] for k, i, v in chunk]))[0])
    if len(results) > 1:  # B-tree nodes re-reduced in the shard
        results = [(await query_server.rereduce([source], results))[0]]
    # CouchDB's coordinator re-reduces what its shards answer, one shard's too (fabric_view_reduce).
    return (await query_server.rereduce([source], results))[0]
