"""JavaScript design functions (``store/query_server.py``, ``store/views.py``, ``api/views.py``): views with
every built-in reduce and a JavaScript one, ``validate_doc_update``, filter functions, broken and
non-terminating functions. The answers asserted here are Apache CouchDB 3.4.3's (tests/interop/
test_couchdb_views.py compares the two directly).

They run in each engine: natively in V8 (``browsercouch.jsengine``), inside Pyodide in the tab's QuickJS
(``browsercouch.tab.quickjs``), which the in-Pyodide harness loads from the bundle (tests/pyodide/
harness.mjs)."""

import asyncio
import secrets
import sys

import pytest

from .util import admins, expect_error, expect_json

if sys.platform == "emscripten":
    import _browsercouch_quickjs  # the harness's (tests/pyodide/harness.mjs: QUICKJS_MODULE)

    from browsercouch.tab.quickjs import QuickJSEngine

    def new_engine():
        return QuickJSEngine(_browsercouch_quickjs.engine)
else:
    pytest.importorskip("py_mini_racer", reason="the native JavaScript engine (mini-racer) is not installed")

    from browsercouch.jsengine import MiniRacerEngine as new_engine

DDOC = {
    "views": {
        "by_n": {"map": "function(doc) { if (doc.n !== undefined) emit(doc.n, doc.t); }", "reduce": "_count"},
        "sum": {"map": "function(doc) { if (doc.t) emit([doc.t, doc.n], doc.n); }", "reduce": "_sum"},
        "stats": {"map": "function(doc) { if (doc.t) emit(doc.t, doc.n); }", "reduce": "_stats"},
        "distinct": {"map": "function(doc) { if (doc.t) emit(doc.t, 1); }",
                     "reduce": "_approx_count_distinct"},
        "custom": {"map": "function(doc) { if (doc.t) emit(doc.t, doc.n); }",
                   "reduce": "function(keys, values, rereduce) { return sum(values) * 1; }"},
        "lib_user": {"map": "function(doc) { var m = require('views/lib/m'); "
                            "emit(m.twice(doc.n || 0), null); }"},
        "lib": {"m": "exports.twice = function(x) { return 2 * x; };"},
    },
    "validate_doc_update": """function(newDoc, oldDoc, userCtx, secObj) {
        if (newDoc.admins_only && userCtx.roles.indexOf('_admin') < 0) throw({forbidden: 'admins only'});
        if (newDoc.forbid) throw({forbidden: 'no way'});
        if (newDoc.unauth) throw({unauthorized: 'who'});
        if (newDoc.err) throw new Error('E');
    }""",
    "filters": {"x": "function(doc, req) { return doc.t == (req.query.t || 'x'); }"},
}
DOCS = [{"_id": "a", "n": 1, "t": "x"}, {"_id": "b", "n": 2, "t": "y"}, {"_id": "c", "n": 3, "t": "x"},
        {"_id": "d", "n": 3, "t": "y"}]


@pytest.fixture
def js(make_client):
    return make_client(js_engine=new_engine())


@pytest.fixture
def jdb(js):
    """A fresh database on ``js``."""
    name = "db-" + secrets.token_hex(4)
    expect_json(js.put(f"/{name}"), 201)
    return name


@pytest.fixture
def vdb(js, jdb):
    db = jdb
    expect_json(js.post(f"/{db}/_bulk_docs", json={"docs": DOCS}), 201)
    expect_json(js.put(f"/{db}/_design/d", json=DDOC), 201)
    return db


def _view(js, db, view, query="", status=200):
    return expect_json(js.get(f"/{db}/_design/d/_view/{view}{query}"), status)


def test_map_rows_in_collation_order_with_paging(js, vdb):
    body = _view(js, vdb, "by_n", "?reduce=false")
    assert [(r["key"], r["id"]) for r in body["rows"]] == [(1, "a"), (2, "b"), (3, "c"), (3, "d")]
    assert body["total_rows"] == 4 and body["offset"] == 0
    body = _view(js, vdb, "by_n", "?reduce=false&descending=true&startkey=3&endkey=2&limit=2")
    assert [r["id"] for r in body["rows"]] == ["d", "c"]
    body = _view(js, vdb, "by_n", "?reduce=false&startkey=3&startkey_docid=d&include_docs=true")
    assert [r["doc"]["_id"] for r in body["rows"]] == ["d"]
    body = _view(js, vdb, "by_n", "?reduce=false&endkey=3&inclusive_end=false")
    assert [r["id"] for r in body["rows"]] == ["a", "b"]


def test_reduces(js, vdb):
    assert _view(js, vdb, "by_n")["rows"] == [{"key": None, "value": 4}]
    assert _view(js, vdb, "sum", "?group_level=1")["rows"] == [{"key": ["x"], "value": 4},
                                                               {"key": ["y"], "value": 5}]
    stats = _view(js, vdb, "stats", "?group=true")["rows"]
    assert stats[0] == {"key": "x", "value": {"sum": 4, "count": 2, "min": 1, "max": 3, "sumsqr": 10}}
    assert _view(js, vdb, "distinct")["rows"] == [{"key": None, "value": 2}]
    assert _view(js, vdb, "custom", "?group=true")["rows"] == [{"key": "x", "value": 4},
                                                                {"key": "y", "value": 5}]


def test_index_follows_writes_and_require(js, vdb):
    assert [r["key"] for r in _view(js, vdb, "lib_user")["rows"]] == [2, 4, 6, 6]
    rev = js.get(f"/{vdb}/a").json()["_rev"]
    js.put(f"/{vdb}/a", json={"_rev": rev, "n": 10, "t": "x"})
    assert _view(js, vdb, "by_n", "?reduce=false")["rows"][-1] == {"id": "a", "key": 10, "value": "x"}
    assert _view(js, vdb, "by_n", "?update=false&reduce=false")["total_rows"] == 4


def test_a_key_past_a_doubles_range_collates_above_every_number(js, vdb):
    """An integer JSON key too large for a double (CouchDB keeps it as a bignum) bounds a range as
    CouchDB's answers do: every number is below it (it was a 500)."""
    big = "1" + "0" * 400
    assert _view(js, vdb, "by_n", f"?reduce=false&startkey={big}")["rows"] == []
    assert len(_view(js, vdb, "by_n", f"?reduce=false&endkey={big}")["rows"]) == 4


def test_query_errors(js, vdb):
    expect_error(js.get(f"/{vdb}/_design/d/_view/nope"), 404, "not_found", "missing_named_view")
    expect_error(js.get(f"/{vdb}/_design/nope/_view/x"), 404, "not_found", "missing")
    expect_error(js.get(f"/{vdb}/_design/d/_view/lib_user?group=true"), 400, "query_parse_error",
                 "Invalid use of grouping on a map view.")
    expect_error(js.get(f"/{vdb}/_design/d/_view/by_n?include_docs=true"), 400, "query_parse_error",
                 "`include_docs` is invalid for reduce")
    expect_error(js.get(f"/{vdb}/_design/d/_view/by_n?startkey=3&endkey=1"), 400, "query_parse_error",
                 "No rows can match your key range, reverse your start_key and end_key or "
                 "set descending=true", ref=3865780518)


def test_validate_doc_update(js, vdb):
    expect_error(js.put(f"/{vdb}/f1", json={"forbid": 1}), 403, "forbidden", "no way")
    expect_error(js.put(f"/{vdb}/f2", json={"unauth": 1}), 401, "unauthorized", "who")
    expect_error(js.put(f"/{vdb}/f3", json={"err": 1}), 500, "Error", "{[]}")
    rows = js.post(f"/{vdb}/_bulk_docs", json={"new_edits": False, "docs": [
        {"_id": "h", "_rev": "1-abc", "forbid": 1}]}).json()
    assert rows == [{"id": "h", "rev": "1-abc", "error": "forbidden", "reason": "no way"}]
    expect_json(js.put(f"/{vdb}/ok", json={"fine": 1}), 201)


def test_validate_doc_update_sees_the_user(make_client):
    """userCtx is the requester's: a member's write is refused where an admin's passes."""
    js = make_client(js_engine=new_engine(), admins=admins(root="pw"))
    root, bob = ("root", "pw"), ("bob", "pw")
    js.put("/_users", auth=root)
    js.put("/_users/org.couchdb.user:bob", auth=root,
           json={"name": "bob", "password": "pw", "roles": [], "type": "user"})
    js.put("/v", auth=root)
    js.put("/v/_security", auth=root, json={"members": {"names": ["bob"]}})
    expect_json(js.put("/v/_design/d", json=DDOC, auth=root), 201)
    expect_json(js.put("/v/a", json={"admins_only": 1}, auth=root), 201)
    expect_error(js.put("/v/b", json={"admins_only": 1}, auth=bob), 403, "forbidden", "admins only")
    expect_json(js.put("/v/c", json={"x": 1}, auth=bob), 201)


def test_filters(js, vdb):
    body = expect_json(js.get(f"/{vdb}/_changes?filter=d/x"))
    assert [r["id"] for r in body["results"]] == ["a", "c"]
    body = expect_json(js.get(f"/{vdb}/_changes?filter=d/x&t=y"))
    assert [r["id"] for r in body["results"]] == ["b", "d"]
    body = expect_json(js.get(f"/{vdb}/_changes?filter=_view&view=d/stats"))
    assert [r["id"] for r in body["results"]] == ["a", "b", "c", "d"]
    expect_error(js.get(f"/{vdb}/_changes?filter=d/nope"), 404, "not_found", "missing json key: nope")


def test_broken_design_docs_are_refused(js, jdb):
    db = jdb
    expect_error(js.put(f"/{db}/_design/b", json={"views": {"v": {"map": "function(doc) { emit( }"}}}),
                 400, "compilation_error")
    expect_error(js.put(f"/{db}/_design/b", json={"views": {"v": {"map": "function(d){}", "reduce": "_x"}}}),
                 400, "invalid_design_doc", "`_x` is not a supported reduce function.")
    expect_error(js.put(f"/{db}/_design/b", json={"views": {"v": {}}}), 400, "invalid_design_doc",
                 "View `v` must contain map function")


def test_endless_map_times_out_and_the_server_lives(js, jdb):
    db = jdb
    js.put(f"/{db}/doc", json={"x": 1})
    js.put(f"/{db}/_design/loop", json={"views": {"v": {"map": "function(doc) { while (true) {} }"}}})
    js.app.couch.query_server.timeout_ms = 300
    expect_error(js.get(f"/{db}/_design/loop/_view/v"), 500, "os_process_error", "OS process timed out.",
                 ref=4061830036)
    js.put(f"/{db}/_design/ok", json={"views": {"v": {"map": "function(doc) { emit(doc._id, 1); }"}}})
    assert _view_rows(js, db) == [{"id": "doc", "key": "doc", "value": 1}]


@pytest.mark.skipif(sys.platform == "emscripten", reason="the tab's QuickJS has no call_async: its worker "
                    "waits out the time limit")
@pytest.mark.parametrize("view", [{"map": "function(doc) { while (true) {} }"},
                                  {"map": "function(doc) { emit(1, 1); }",
                                   "reduce": "function(keys, values) { while (true) {} }"}],
                         ids=["map", "reduce"])
def test_the_server_answers_while_a_design_function_loops(js, jdb, view):
    """The engine's call is awaited off the event loop (``call_async``): during an endless map or
    reduce function's time limit, ``GET /`` is answered, and before the view query's error."""
    db = jdb
    js.put(f"/{db}/doc", json={"x": 1})
    js.put(f"/{db}/_design/loop", json={"views": {"v": view}})
    js.app.couch.query_server.timeout_ms = 2000

    async def scenario():
        other = await js.connect()
        query = asyncio.ensure_future(js.arequest("GET", f"/{db}/_design/loop/_view/v", conn=other))
        await asyncio.sleep(0.2)
        welcome = await js.arequest("GET", "/")
        pending = not query.done()
        answer = await query
        await other.close()
        return welcome, pending, answer

    welcome, pending, answer = js.run(scenario())
    assert welcome.status == 200 and pending
    expect_error(answer, 500, "os_process_error", "OS process timed out.", ref=4061830036)


def _view_rows(js, db):
    return expect_json(js.get(f"/{db}/_design/ok/_view/v"))["rows"]


def test_view_cleanup_and_info(js, vdb):
    _view(js, vdb, "by_n")
    info = expect_json(js.get(f"/{vdb}/_design/d/_info"))
    assert info["name"] == "d" and info["view_index"]["update_seq"] == 5
    expect_json(js.post(f"/{vdb}/_view_cleanup", json={}), 202)
    assert _view(js, vdb, "by_n", "?update=false")["rows"] == [{"key": None, "value": 4}]


def test_without_an_engine_views_are_501(client, db):
    """A server given no JavaScript engine (a tab whose QuickJS failed to load) says so rather than
    answering wrongly."""
    client.put(f"/{db}/doc", json={"x": 1})
    expect_json(client.put(f"/{db}/_design/d", json=DDOC), 201)
    expect_error(client.get(f"/{db}/_design/d/_view/by_n"), 501, "not_implemented")
    expect_error(client.put(f"/{db}/other", json={"y": 1}), 501, "not_implemented")
