"""PouchDB 9's ``pouchdb-find`` (npm) against browsercouch: ``find()``, ``createIndex()``, ``getIndexes()``,
``deleteIndex()`` and ``explain()`` answer as they do against Apache CouchDB 3.4.3.

``tests/node/pouchdb_find.mjs`` runs the same steps against a fresh database on each server (it writes
the documents itself); the answers are compared with revisions and CouchDB's execution times left out,
and bookmarks compared by the pages they lead to (the script follows one). Without CouchDB the test
checks browsercouch's answers against what CouchDB answered when this was written.
"""

import secrets

import pytest
from helpers import http, new_db, node_missing_reason, run_node_steps, start_browsercouch

# CouchDB's name for the index on ["n"] created without one (the SHA-1 of its Erlang term).
AUTO_NAME = "3d4fdc43057b07474cd610d0ad5761ead92400bf"

pytestmark = [pytest.mark.native, pytest.mark.node]


def run_steps(db_url):
    return run_node_steps("pouchdb_find.mjs", db_url)


def normalised(value):
    """Revisions, bookmarks and the database name left out: they differ by design; the selector hints'
    field lists sorted (CouchDB lists an Erlang set)."""
    if isinstance(value, dict) and "indexable_fields" in value:
        return {key: sorted(item) if key.endswith("_fields") else item for key, item in value.items()}
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()
                if key not in ("_rev", "rev", "bookmark", "dbname")}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


@pytest.fixture(scope="module")
def ours():
    reason = node_missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_browsercouch()
    yield run_steps(new_db(server.url, "find"))
    server.stop()


def test_pouchdb_find_answers_as_against_couchdb(ours, couchdb):
    db_url = f"{couchdb.url}find-{secrets.token_hex(4)}"
    assert http("PUT", db_url + "?q=1")[0] == 201  # one shard, as ours
    theirs = run_steps(db_url)
    assert list(ours) == list(theirs)
    # Not getIndexesAfter: CouchDB lists indexes from a cache (ddoc_cache) that may still hold the one
    # just deleted; ours is checked below.
    for step in [step for step in theirs if step != "getIndexesAfter"]:
        assert normalised(ours[step]) == normalised(theirs[step]), step


def test_pouchdb_find_works_against_browsercouch(ours):
    """The answers CouchDB 3.4.3 gave these steps, in brief, for machines without it."""
    assert ours["createIndex"]["result"] == "created" and ours["createIndexAgain"]["result"] == "exists"
    assert [index["name"] for index in ours["getIndexes"]["indexes"]] == ["_all_docs", AUTO_NAME, "kind-n",
                                                                          "even-n"]
    assert [doc["n"] for doc in ours["findGt"]["docs"]] == list(range(21, 30))
    assert [doc["n"] for doc in ours["findDesc"]["docs"]] == [29, 28, 27, 26, 25]
    assert ours["findFields"]["docs"] == [{"_id": "doc01", "n": 1}, {"_id": "doc04", "n": 4},
                                          {"_id": "doc07", "n": 7}, {"_id": "doc10", "n": 10}]
    assert ours["findPages"] == [["doc05", "doc06", "doc07", "doc08"], ["doc09", "doc10", "doc11", "doc12"]]
    assert ours["findSortNoIndex"]["status"] == 400 and ours["findSortNoIndex"]["error"] == "no_usable_index"
    assert ours["findBadOperator"]["status"] == 400
    assert ours["deleteIndex"] == {"ok": True}
    assert len(ours["getIndexesAfter"]["indexes"]) == 3
