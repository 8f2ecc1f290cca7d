"""Tests for ``browsercouch.store.find`` and ``mango_index``: Mango queries over real SQLite.

The expected answers are CouchDB 3.4.3's (asked with curl, quoted here); ``tests/conformance/test_mango.py``
compares generated queries with a running CouchDB. These tests need no CouchDB and run inside Pyodide too.
"""

import asyncio
import json
import sqlite3
from contextlib import closing

import pytest
from helpers import async_test
from hypothesis import given, settings
from hypothesis import strategies as st

from browsercouch.errors import BadRequest, CouchError, NotFound
from browsercouch.store import Couch
from browsercouch.store.mango import sort_key
from browsercouch.store.mango_index import encode_key


@pytest.fixture(params=["file", "memory"])
def couch(request, tmp_path):
    server = Couch(tmp_path / "data" if request.param == "file" else None)
    yield server
    server.close()


@pytest.fixture
def db(couch):
    db = couch.create_db("db")
    db.update_docs([{"_id": f"d{n}", "n": n, "s": "abAB"[n % 4], "tag": {"even": n % 2 == 0}}
                    for n in range(20)])
    return db


def find(db, body):
    """``(docs, trailer)`` of a ``_find``."""
    async def run():
        cursor = await db.find(body)
        return list(cursor), cursor.trailer()
    return asyncio.run(run())


def ids(docs):
    return [doc["_id"] for doc in docs]


# -- keys ------------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="aAbB _-.1é\x00", max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=2), inner, max_size=2),
    max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(a=JSON, b=JSON)
def test_index_keys_sort_as_collation(a, b):
    """``encode_key`` bytes order exactly as ``sort_key`` (CouchDB's view collation) orders values."""
    ka, kb = sort_key(a), sort_key(b)
    ea, eb = encode_key(a), encode_key(b)
    assert (ea < eb, ea == eb) == (ka < kb, ka == kb)


def test_index_keys_of_arrays_keep_prefixes_first():
    assert encode_key(["a"]) < encode_key(["a", None]) < encode_key(["a", "b"]) < encode_key(["b"])
    assert encode_key(1) == encode_key(1.0) and encode_key(-0.0) == encode_key(0)


# -- _find without an index ------------------------------------------------------------------------------


def test_without_an_index_all_docs_in_id_order_with_couchdb_s_warning(db):
    docs, trailer = find(db, {"selector": {"n": {"$gte": 15}}})
    assert ids(docs) == ["d15", "d16", "d17", "d18", "d19"]
    assert trailer["warning"] == "No matching index found, create an index to optimize query time."


def test_default_limit_is_25_and_skip_applies_to_matches(db):
    db.update_docs([{"_id": f"x{n:02d}", "n": 100 + n} for n in range(30)])
    docs, _ = find(db, {"selector": {"n": {"$gte": 100}}})
    assert len(docs) == 25
    docs, _ = find(db, {"selector": {"n": {"$gte": 100}}, "skip": 28})
    assert ids(docs) == ["x28", "x29"]


def test_fields_keep_the_order_asked_and_build_nested_objects(db):
    docs, _ = find(db, {"selector": {"_id": "d2"}, "fields": ["tag.even", "_id", "nope"]})
    assert docs == [{"tag": {"even": True}, "_id": "d2"}]


def test_bookmarks_page_through_every_match_once(db):
    seen, bookmark = [], None
    for _ in range(10):
        body = {"selector": {"n": {"$gt": 2}}, "limit": 4}
        if bookmark:
            body["bookmark"] = bookmark
        docs, trailer = find(db, body)
        if not docs:
            break
        seen += ids(docs)
        bookmark = trailer["bookmark"]
    assert sorted(seen) == sorted(f"d{n}" for n in range(3, 20)) and len(seen) == len(set(seen))


def test_a_contradiction_reads_nothing_and_has_no_trailer(db):
    db.create_index({"index": {"fields": ["n"]}})
    docs, trailer = find(db, {"selector": {"n": {"$gt": 5, "$lt": 3}}, "execution_stats": True})
    assert (docs, trailer) == ([], {})


def test_conflicts_are_shown_when_asked(db):
    db.update_docs([{"_id": "d1", "_rev": "1-" + "f" * 32, "n": 1}], new_edits=False)
    docs, _ = find(db, {"selector": {"_id": "d1"}, "conflicts": True})
    assert len(docs[0]["_conflicts"]) == 1
    docs, _ = find(db, {"selector": {"_id": "d1"}})
    assert "_conflicts" not in docs[0]


# -- indexes ---------------------------------------------------------------------------------------------


def test_an_index_is_a_query_design_document_as_couchdb_writes_it(db):
    answer = db.create_index({"index": {"fields": ["x"]}})
    # CouchDB 3.4.3 names this index b0d8...: the SHA-1 of the Erlang term of its definition and options.
    assert answer == {"result": "created", "id": "_design/b0d86627ec4e730b1cf5f3e591d25c2e542c1a08",
                      "name": "b0d86627ec4e730b1cf5f3e591d25c2e542c1a08"}
    ddoc = db.get(answer["id"])
    assert ddoc["language"] == "query"
    assert ddoc["views"][answer["name"]] == {"map": {"fields": {"x": "asc"}, "partial_filter_selector": {}},
                                             "reduce": "_count", "options": {"def": {"fields": ["x"]}}}
    assert db.create_index({"index": {"fields": ["x"]}})["result"] == "exists"


def test_an_indexed_query_reads_only_its_range_in_index_order(db):
    db.create_index({"index": {"fields": ["s", "n"]}, "ddoc": "sn", "name": "by-s"})
    docs, trailer = find(db, {"selector": {"s": "b", "n": {"$gt": 4}}, "execution_stats": True})
    assert ids(docs) == ["d5", "d9", "d13", "d17"]
    assert "warning" not in trailer
    assert trailer["execution_stats"]["total_keys_examined"] == 4


def test_sort_follows_the_index_and_desc_reverses_it(db):
    db.create_index({"index": {"fields": ["s"]}})
    docs, _ = find(db, {"selector": {"s": {"$gt": None}}, "sort": ["s"], "fields": ["s"], "limit": 20})
    # view collation: lower case first
    assert [doc["s"] for doc in docs] == sorted([doc["s"] for doc in docs], key=sort_key)
    assert [doc["s"] for doc in docs][::5] == ["a", "A", "b", "B"]
    desc, _ = find(db, {"selector": {"s": {"$gt": None}}, "sort": [{"s": "desc"}], "fields": ["s"],
                        "limit": 20})
    assert desc == docs[::-1]


def test_begins_with_reads_the_whole_prefix_range_of_an_index(db):
    db.update_docs([{"_id": f"p{n}", "s": text} for n, text in enumerate(["ab", "aZ", "a~", "a\u00e9", "b"])])
    db.create_index({"index": {"fields": ["s"]}})
    docs, trailer = find(db, {"selector": {"s": {"$beginsWith": "a"}}, "fields": ["s"]})
    assert "warning" not in trailer  # the index was used
    assert sorted(doc["s"] for doc in docs) == sorted(["a"] * 5 + ["ab", "aZ", "a~", "a\u00e9"])


def test_sort_without_a_usable_index_is_couchdb_s_error(db):
    with pytest.raises(BadRequest) as err:
        find(db, {"selector": {"n": 1}, "sort": ["n"]})
    reason = "No index exists for this sort, try indexing by the sort fields."
    assert err.value.to_json() == {"error": "no_usable_index", "reason": reason}


def test_rows_follow_writes_and_deletions_before_each_query(db):
    db.create_index({"index": {"fields": ["n"]}})
    assert ids(find(db, {"selector": {"n": {"$gte": 18}}})[0]) == ["d18", "d19"]
    rev = db.get("d18")["_rev"]
    db.put({"_id": "d18", "_rev": rev, "n": 1})
    db.put({"_id": "new", "n": 30})
    db.put({"_id": "d19", "_rev": db.get("d19")["_rev"], "_deleted": True})
    assert ids(find(db, {"selector": {"n": {"$gte": 18}}})[0]) == ["new"]


def test_update_false_reads_the_index_as_it_stands(db):
    db.create_index({"index": {"fields": ["n"]}})
    find(db, {"selector": {"n": {"$gte": 18}}})
    db.put({"_id": "late", "n": 40})
    assert ids(find(db, {"selector": {"n": {"$gte": 18}}, "update": False})[0]) == ["d18", "d19"]
    assert ids(find(db, {"selector": {"n": {"$gte": 18}}})[0]) == ["d18", "d19", "late"]


def test_a_partial_index_holds_only_its_documents_and_is_used_when_named(db):
    db.create_index({"index": {"fields": ["n"], "partial_filter_selector": {"tag.even": True}},
                     "ddoc": "even"})
    docs, trailer = find(db, {"selector": {"n": {"$gt": 10}}, "use_index": "even",
                              "execution_stats": True})
    assert ids(docs) == ["d12", "d14", "d16", "d18"]
    # the range starts at n = 10 itself (CouchDB's start keys are inclusive; the selector drops the row)
    assert trailer["execution_stats"]["total_keys_examined"] == 5
    docs, trailer = find(db, {"selector": {"n": {"$gt": 16}}})  # not named: not used
    assert ids(docs) == ["d17", "d18", "d19"] and "No matching index" in trailer["warning"]


def test_design_documents_are_never_rows(db):
    db.create_index({"index": {"fields": ["language"]}})
    docs, _ = find(db, {"selector": {"language": {"$exists": True}}})
    assert docs == []


def test_a_covering_index_answers_without_reading_documents(db):
    db.create_index({"index": {"fields": ["n"]}})
    docs, trailer = find(db, {"selector": {"n": {"$lt": 2}}, "fields": ["_id", "n"], "execution_stats": True})
    assert docs == [{"_id": "d0", "n": 0}, {"_id": "d1", "n": 1}]
    assert trailer["execution_stats"]["total_docs_examined"] == 0


def test_deleting_an_index_deletes_its_design_document_and_its_rows(db, couch):
    created = db.create_index({"index": {"fields": ["n"]}, "ddoc": "gone", "name": "n"})
    find(db, {"selector": {"n": 1}})
    assert db.delete_index("gone", "json", "n") == {"ok": True}
    with pytest.raises(NotFound):
        db.get(created["id"])
    assert [ix["name"] for ix in db.indexes()["indexes"]] == ["_all_docs"]
    with pytest.raises(NotFound):
        db.delete_index("gone", "json", "n")
    if db._storage.path != ":memory:":
        with closing(sqlite3.connect(db._storage.path)) as conn:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert not [name for name in tables if name.startswith("mango_") and name != "mango_indexes"]


def _mango_tables(db):
    return [name for (name,) in db._storage.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if name.startswith("mango_") and name != "mango_indexes"]


def test_view_cleanup_drops_the_rows_of_indexes_whose_design_document_is_gone(db):
    created = db.create_index({"index": {"fields": ["n"]}, "ddoc": "old"})
    find(db, {"selector": {"n": 1}})
    assert len(_mango_tables(db)) == 1
    db.put({"_id": created["id"], "_rev": db.get(created["id"])["_rev"], "_deleted": True})
    db.view_cleanup()
    assert _mango_tables(db) == []


def test_views_of_other_languages_and_bad_definitions_are_not_indexes(db):
    db.put({"_id": "_design/js", "views": {"v": {"map": "function(doc){emit(doc._id)}"}}})
    db.put({"_id": "_design/q", "language": "query",
            "views": {"bad": {"map": {"fields": "nope"}, "options": {}},
                      "good": {"map": {"fields": {"n": "asc"}}, "options": {"def": {"fields": ["n"]}}}}})
    assert [ix["name"] for ix in db.indexes()["indexes"]] == ["_all_docs", "good"]
    with pytest.raises(BadRequest) as err:
        db.create_index({"index": {"fields": ["n"]}, "ddoc": "js"})
    assert err.value.error == "invalid_ddoc_lang"


def test_explain_names_the_chosen_index_and_its_range(db):
    db.create_index({"index": {"fields": ["n"]}, "ddoc": "n"})
    plan = db.explain({"selector": {"n": {"$gt": 3, "$lte": 9}}, "sort": [{"n": "desc"}]})
    assert plan["index"]["ddoc"] == "_design/n"
    assert plan["mrargs"]["start_key"] == [9, "<MAX>"] and plan["mrargs"]["end_key"] == [3]
    assert plan["mrargs"]["direction"] == "rev"
    # _all_docs cannot sort by n: not usable, and its first reason is the selector's
    assert plan["index_candidates"][0]["analysis"] == {
        "usable": False, "reasons": [{"name": "field_mismatch"}], "ranking": 1, "covering": None}


# -- errors, as CouchDB 3.4.3 words them ------------------------------------------------------------------

ERRORS = [
    ({"selector": {"x": 1}, "sort": "x"}, 400, "invalid_sort_json",
     'Sort must be an array of sort specs, not: <<"x">>'),
    ({"selector": {"x": 1}, "sort": [{"x": "up"}]}, 400, "invalid_sort_field",
     'Invalid sort field: {[{<<"x">>,<<"up">>}]}'),
    ({"selector": {"x": 1}, "sort": [{"x": "asc"}, {"y": "desc"}]}, 400, "unsupported_mixed_sort",
     "Sorts currently only support a single direction for all fields."),
    ({"selector": {"x": 1}, "sort": [5]}, 400, "invalid_sort_field", "Invalid sort field: 5"),
    ({"selector": {"x": 1}, "bookmark": 5}, 500, "unknown_error",
     "Unknown Error: mango_opts :: {invalid_bookmark,5}"),
    ({"selector": {"x": 1}, "bookmark": "zzz"}, 400, "invalid_bookmark", 'Invalid bookmark value: "zzz"'),
    ({"selector": {"x": 1}, "use_index": "a/b/c/d"}, 400, "invalid_index_name",
     "Invalid index name: <<97,47,98,47,99,47,100>>"),
    ({"selector": {"x": 1}, "stale": "no"}, 500, "unknown_error",
     "Unknown Error: mango_opts :: {invalid_ok_or_false_value,<<110,111>>}"),
    ({"selector": {"x": 1}, "r": 0}, 400, "invalid_pos_integer", "0 is not an integer greater than zero"),
    ({"selector": {"x": 1}, "limit": -1}, 400, "invalid_non_neg_integer",
     "-1 is not an integer greater than or equal to zero"),
    ({"selector": {"x": 1}, "fields": [1]}, 400, "invalid_field", "Invalid JSON for field spec: 1"),
    ({"selector": {"x": 1}, "fields": "x"}, 400, "invalid_fields",
     "Fields must be an array of strings, not: <<120>>"),
    ({"selector": {"x": 1}, "foo": 1}, 400, "invalid_key", "Invalid key foo for this request."),
    ({"selector": {"n": 1}, "fields": [""]}, 400, "invalid_field_name", "Invalid field name: "),
    ({"selector": {"n": 1}, "fields": ["a..b"]}, 400, "invalid_field_name", "Invalid field name: a..b"),
    ({"selector": {"x": {"$in": "abc"}}}, 400, "bad_arg", "Bad argument for operator $in: <<97,98,99>>"),
    ({"selector": {"x": {"$foo": 1}}}, 400, "invalid_operator", "Invalid operator: $foo"),
    ({"selector": []}, 400, "invalid_selector_json", "Selector must be a JSON object, not: []"),
    ({}, 400, "missing_required_key", "Missing required key: selector"),
    ({"selector": {"x": 1}, "use_index": "nope", "allow_fallback": False}, 400, "invalid_index",
     "_design/nope specified by `use_index` could not be found or it is not suitable."),
]


@pytest.mark.parametrize("body, status, error, reason", ERRORS, ids=[e[2] + "-" + json.dumps(e[0])[:40]
                                                                       for e in ERRORS])
def test_bad_requests_get_couchdb_s_errors(db, body, status, error, reason):
    with pytest.raises(CouchError) as err:
        find(db, body)
    assert (err.value.status, err.value.error, err.value.reason) == (status, error, reason)


@async_test
async def test_a_long_refresh_gives_the_event_loop_turns():
    db = Couch().create_db("big")
    db.update_docs([{"_id": f"{n:05d}", "n": n} for n in range(2500)])
    db.create_index({"index": {"fields": ["n"]}})
    turns = 0

    async def count():
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.ensure_future(count())
    cursor = await db.find({"selector": {"n": {"$gte": 2498}}})
    counter.cancel()
    assert ids(list(cursor)) == ["02498", "02499"]
    assert turns >= 2
