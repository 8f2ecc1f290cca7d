"""Issue 12 item 6: what browsercouch does not have answers as CouchDB answers a feature it lacks (501
``not_implemented``, naming the feature), not as a missing document or database. Where Apache CouchDB
3.4.3 itself answers otherwise for a request (a method it does not allow, an endpoint it removed), we
answer as it does."""

import pytest
from helpers import http

# (method, path, words the reason names)
NOT_IMPLEMENTED = [
    ("GET", "/{db}/_design/d/_show/s", "_show"),
    ("GET", "/{db}/_design/d/_list/l/v", "_list"),
    ("PUT", "/{db}/_design/d/_update/u", "_update"),
    ("GET", "/{db}/_design/d/_rewrite/x", "_rewrite"),
    ("GET", "/{db}/_design/d/_search/i", "search"),
    ("POST", "/{db}/_purge", "_purge"),
    ("GET", "/{db}/_purged_infos_limit", "_purge"),
    ("GET", "/{db}/_partition/p", "partition"),
    ("GET", "/{db}/_shards", "shards"),
    ("POST", "/{db}/_all_docs/queries", "queries"),
    ("GET", "/_utils", "Fauxton"),
    ("GET", "/_utils/", "Fauxton"),
    ("GET", "/_node/_local/_config", "_node"),
    ("GET", "/_node/_local/_stats", "_node"),
    ("GET", "/_node/_local", "_node"),
    ("GET", "/_membership", "_membership"),
    ("GET", "/_db_updates", "_db_updates"),
    ("GET", "/_cluster_setup", "_cluster_setup"),
    ("GET", "/_reshard", "_reshard"),
]
# As CouchDB 3.4.3 answers them (recorded against it, 2026-12).
AS_COUCHDB = [
    ("GET", "/{db}/_find", 405, "method_not_allowed", "Only POST allowed"),
    ("GET", "/{db}/_design/nope/_view/v", 404, "not_found", "missing"),
    ("GET", "/{db}/_design/nope/_show/s", 404, "not_found", "missing"),
    ("GET", "/_stats", 404, "not_found", "Database does not exist."),
    ("GET", "/_config", 404, "not_found", "Database does not exist."),
    ("GET", "/_whatever", 404, "not_found", "Database does not exist."),
]


@pytest.fixture(scope="module")
def db(native):
    assert http("PUT", native.url + "features")[0] == 201
    design = {"views": {"v": {"map": "function(doc) {}"}}}
    assert http("PUT", native.url + "features/_design/d", design)[0] == 201
    return "features"


@pytest.mark.parametrize("method, path, words", NOT_IMPLEMENTED)
def test_missing_features_answer_501(native, db, method, path, words):
    body = {} if method in ("POST", "PUT") else None
    status, _, answer = http(method, native.url.rstrip("/") + path.format(db=db), body)
    assert status == 501, answer
    assert answer["error"] == "not_implemented" and words in answer["reason"], answer


@pytest.mark.parametrize("method, path, status, error, reason", AS_COUCHDB)
def test_as_couchdb_answers(native, db, method, path, status, error, reason):
    got = http(method, native.url.rstrip("/") + path.format(db=db))
    assert (got[0], got[2]["error"], got[2]["reason"]) == (status, error, reason)


def test_missing_features_of_a_missing_database_are_404(native):
    status, _, answer = http("POST", native.url + "nowhere/_purge", {})
    assert status == 404 and answer["reason"] == "Database does not exist."


def test_couchdb_answers_the_same(couchdb):
    for method, path, status, error, reason in AS_COUCHDB:
        got = http(method, couchdb.url.rstrip("/") + path.format(db="_users"))
        assert (got[0], got[2]["error"], got[2]["reason"]) == (status, error, reason), path
