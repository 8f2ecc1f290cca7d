"""``"language": "query"`` views through ``_view`` (``store/mango_views.py``): a Mango index queried as
a view, answered without a JavaScript engine, so in the tab as natively. The answers asserted here are
Apache CouchDB 3.4.3's (tests/interop/test_couchdb_views.py compares the two directly)."""

from .util import expect_json

DOCS = [{"_id": "a", "n": 1, "g": "x"}, {"_id": "b", "n": 2, "g": "y"}, {"_id": "c", "n": 3},
        {"_id": "d", "n": "s", "g": "x"}, {"_id": "e", "nested": {"a": [1]}, "n": None}]
QUERY_DDOC = {"language": "query", "views": {
    "partial": {"map": {"fields": {"n": "asc"}, "partial_filter_selector": {"n": {"$gt": 1}}},
                "reduce": "function(keys, values) { return values.length; }"},
    "nested": {"map": {"fields": {"nested.a": "asc", "n": "desc"}}},
    "by_g": {"map": {"fields": {"g": "asc"}}, "reduce": "_count"},
    "not_an_index": {"map": {"fields": ["g"]}},
}}


def _rows(client, db, path):
    return expect_json(client.get(f"/{db}/_design/{path}"))["rows"]


def _loaded(client, db):
    expect_json(client.post(f"/{db}/_bulk_docs", json={"docs": DOCS}), 201)
    expect_json(client.put(f"/{db}/_design/q", json=QUERY_DDOC), 201)
    body = {"index": {"fields": ["g", "n"]}, "ddoc": "idx", "name": "gn"}
    expect_json(client.post(f"/{db}/_index", json=body))


def test_a_mango_index_queried_as_a_view(client, db):
    _loaded(client, db)
    assert _rows(client, db, "idx/_view/gn") == [{"key": None, "value": 3}]
    assert _rows(client, db, "idx/_view/gn?group=true") == [
        {"key": ["x", 1], "value": 1}, {"key": ["x", "s"], "value": 1}, {"key": ["y", 2], "value": 1}]
    body = expect_json(client.get(f"/{db}/_design/idx/_view/gn?reduce=false&include_docs=true&limit=1"))
    assert body["total_rows"] == 3 and body["rows"][0]["doc"]["_id"] == "a"
    assert body["rows"][0]["value"] is None


def test_partial_filters_nested_fields_and_reduces(client, db):
    _loaded(client, db)
    assert [(r["id"], r["key"]) for r in _rows(client, db, "q/_view/partial?reduce=false")] == [
        ("b", [2]), ("c", [3]), ("d", ["s"])]
    # mango_native_proc answers a JavaScript reduce with null.
    assert _rows(client, db, "q/_view/partial") == [{"key": None, "value": None}]
    assert _rows(client, db, "q/_view/nested") == [{"id": "e", "key": [[1], None], "value": None}]
    assert _rows(client, db, "q/_view/by_g?group_level=1") == [{"key": ["x"], "value": 2},
                                                               {"key": ["y"], "value": 1}]
    # A map that is no index (``fields`` a list) emits nothing, as CouchDB drops it.
    assert _rows(client, db, "q/_view/not_an_index") == []


def test_the_view_follows_writes(client, db):
    _loaded(client, db)
    assert len(_rows(client, db, "q/_view/by_g?reduce=false")) == 3
    expect_json(client.put(f"/{db}/f", json={"g": "a"}), 201)
    rev = expect_json(client.get(f"/{db}/a"))["_rev"]
    expect_json(client.delete(f"/{db}/a?rev={rev}"))
    assert [r["id"] for r in _rows(client, db, "q/_view/by_g?reduce=false")] == ["f", "d", "b"]
