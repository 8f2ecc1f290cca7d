"""PouchDB 9's ``db.query()`` (npm) against browsercouch: map/reduce views answer as they do against
Apache CouchDB 3.4.3.

``tests/node/pouchdb_query.mjs`` writes the same documents and design document to a fresh database on
each server and queries its views (keys, ranges, paging, ``include_docs``, ``group``/``group_level``,
every built-in reduce and a JavaScript one), asks for a missing view and writes a document the design
document's ``validate_doc_update`` refuses; the answers are compared with revisions left out.
"""

import secrets

import pytest
from helpers import http, new_db, node_missing_reason, run_node_steps, start_browsercouch

pytestmark = [pytest.mark.native, pytest.mark.node]


def run_steps(db_url):
    return run_node_steps("pouchdb_query.mjs", db_url)


def normalised(value):
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items() if key not in ("_rev", "rev")}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


@pytest.fixture(scope="module")
def ours():
    reason = node_missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_browsercouch()
    yield run_steps(new_db(server.url, "query"))
    server.stop()


def test_pouchdb_query_answers_as_against_couchdb(ours, couchdb):
    db_url = f"{couchdb.url}query-{secrets.token_hex(4)}"
    assert http("PUT", db_url + "?q=1")[0] == 201
    theirs = run_steps(db_url)
    assert list(ours) == list(theirs)
    for step in theirs:
        assert normalised(ours[step]) == normalised(theirs[step]), step


def test_pouchdb_query_works_against_browsercouch(ours):
    """The answers CouchDB 3.4.3 gave these steps, in brief, for machines without it."""
    assert ours["mapAll"]["total_rows"] == 30
    assert [r["key"] for r in ours["mapAll"]["rows"]] == list(range(30))
    assert ours["mapKey"]["rows"][0]["doc"]["n"] == 7
    assert [r["key"] for r in ours["mapKeys"]["rows"]] == [3, 1]
    assert [r["key"] for r in ours["mapRange"]["rows"]] == [19, 18, 17, 16]
    assert ours["reduceAll"]["rows"] == [{"key": None, "value": 30}]
    # ICU's collation: "a" < "B" < "c"
    assert ours["groupLevel"]["rows"] == [{"key": ["a"], "value": 135}, {"key": ["B"], "value": 145},
                                          {"key": ["c"], "value": 155}]
    assert ours["custom"]["rows"] == [{"key": "x", "value": 8}, {"key": "y", "value": 8},
                                      {"key": "z", "value": 22}]
    assert ours["missingView"]["status"] == 404
    assert ours["validate"]["status"] == 403 and ours["validate"]["reason"] == "n must not be negative"
