"""Document routes (``api/documents.py``): single documents, revisions, ``_local``, ``_bulk_docs``,
``_bulk_get``, ``_revs_diff`` and ``_missing_revs``."""

import gzip
import json
import re

import pytest

from browsercouch.api import multipart

from .util import expect_error, expect_json

REV = re.compile(r"^\d+-[0-9a-f]{32}$")
CONFLICT = "Document update conflict."


def _put(client, db, doc_id, body, **kwargs):
    response = client.put(f"/{db}/{doc_id}", json=body, **kwargs)
    assert response.status == 201, response.body
    return response.json()["rev"]


# -- single documents --------------------------------------------------------------------------------


def test_put_get(client, db):
    response = client.put(f"/{db}/doc", json={"x": 1})
    body = expect_json(response, 201)
    assert body["ok"] is True and body["id"] == "doc" and REV.match(body["rev"])
    assert response.header("etag") == f'"{body["rev"]}"'
    response = client.get(f"/{db}/doc")
    assert expect_json(response) == {"_id": "doc", "_rev": body["rev"], "x": 1}
    assert response.header("etag") == f'"{body["rev"]}"'


def test_head(client, db):
    rev = _put(client, db, "doc", {})
    response = client.head(f"/{db}/doc")
    assert response.status == 200 and response.body == b""
    assert response.header("etag") == f'"{rev}"'
    assert client.head(f"/{db}/nope").status == 404


def test_if_none_match_is_304(client, db):
    rev = _put(client, db, "doc", {})
    response = client.get(f"/{db}/doc", headers={"If-None-Match": f'"{rev}"'})
    assert response.status == 304 and response.body == b""
    assert response.header("etag") == f'"{rev}"'
    assert client.get(f"/{db}/doc", headers={"If-None-Match": '"1-other"'}).status == 200


def test_missing_and_deleted(client, db):
    expect_error(client.get(f"/{db}/nope"), 404, "not_found", "missing")
    rev = _put(client, db, "doc", {})
    response = client.delete(f"/{db}/doc?rev={rev}")
    body = expect_json(response)
    assert body["ok"] is True and body["rev"].startswith("2-")
    expect_error(client.get(f"/{db}/doc"), 404, "not_found", "deleted")
    # The deleted revision itself can still be read.
    assert client.get(f"/{db}/doc?rev={body['rev']}").json() == {"_id": "doc", "_rev": body["rev"],
                                                                 "_deleted": True}


def test_recreate_after_delete(client, db):
    rev = _put(client, db, "doc", {"v": 1})
    client.delete(f"/{db}/doc?rev={rev}")
    rev = _put(client, db, "doc", {"v": 2})
    assert rev.startswith("3-")
    assert client.get(f"/{db}/doc").json()["v"] == 2


def test_update_needs_the_current_rev(client, db):
    rev = _put(client, db, "doc", {"v": 1})
    expect_error(client.put(f"/{db}/doc", json={"v": 2}), 409, "conflict", CONFLICT)
    expect_error(client.put(f"/{db}/doc", json={"_rev": "1-" + "0" * 32}), 409, "conflict", CONFLICT)
    rev2 = _put(client, db, "doc", {"_rev": rev, "v": 2})
    expect_error(client.put(f"/{db}/doc", json={"_rev": rev, "v": 3}), 409, "conflict", CONFLICT)
    assert rev2.startswith("2-")


def test_rev_from_query_and_if_match(client, db):
    rev = _put(client, db, "doc", {})
    rev2 = _put(client, db, f"doc?rev={rev}", {"v": 2})
    rev3 = _put(client, db, "doc", {"v": 3}, headers={"If-Match": f'"{rev2}"'})
    assert rev3.startswith("3-")
    # Different revs in body and query string: chttpd_db:extract_header_rev/2 -> 400.
    expect_error(client.put(f"/{db}/doc?rev={rev}", json={"_rev": rev3}), 400, "bad_request")


def test_delete(client, db):
    rev = _put(client, db, "doc", {})
    expect_error(client.delete(f"/{db}/doc"), 409, "conflict", CONFLICT)
    expect_error(client.delete(f"/{db}/doc?rev=1-" + "0" * 32), 409, "conflict")
    expect_error(client.delete(f"/{db}/doc?rev=bogus"), 400, "bad_request", "Invalid rev format")
    response = client.delete(f"/{db}/doc", headers={"If-Match": rev})
    assert expect_json(response)["ok"] is True
    # CouchDB 3.4.3 opens the document first: missing or deleted is 404, whatever the rev.
    expect_error(client.delete(f"/{db}/nope?rev={rev}"), 404, "not_found", "missing")
    expect_error(client.delete(f"/{db}/nope"), 404, "not_found", "missing")
    expect_error(client.delete(f"/{db}/doc?rev={rev}"), 404, "not_found", "deleted")


def test_post_creates_with_a_uuid(client, db):
    response = client.post(f"/{db}", json={"x": 1})
    body = expect_json(response, 201)
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"]) and REV.match(body["rev"])
    assert client.get(f"/{db}/{body['id']}").json()["x"] == 1
    body = expect_json(client.post(f"/{db}", json={"_id": "named"}), 201)
    assert body["id"] == "named"


def test_post_needs_json_content_type(client, db):
    response = client.post(f"/{db}", body=b"{}", headers={"Content-Type": "text/plain"})
    expect_error(response, 415, "bad_content_type")


def test_batch_ok_is_202(client, db):
    body = expect_json(client.put(f"/{db}/doc?batch=ok", json={}), 202)
    assert body["ok"] is True
    assert client.get(f"/{db}/doc").status == 200


@pytest.mark.parametrize("body", [b"{", b"[1]", b'"x"', b"\xff\xfe{}", b"", b"{}{}", b"nul"])
def test_bad_document_bodies_are_400(client, db, body):
    response = client.put(f"/{db}/doc", body=body, headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


@pytest.mark.parametrize("doc, error", [
    ({"_foo": 1}, "doc_validation"),
    ({"_rev": 5}, "bad_request"),
    ({"_rev": [None]}, "bad_request"),
    ({"_rev": {"a": 1}}, "bad_request"),
    ({"_rev": "x-y"}, "bad_request"),
    ({"_attachments": []}, "doc_validation"),
    ({"_deleted": "yes"}, "doc_validation"),
    ({"_attachments": {"a": {"data": "!!!"}}}, "bad_request"),
    ({"_attachments": {"a": 5}}, "bad_request"),
    ({"_attachments": {"a": {}}}, "bad_request"),
])
def test_bad_documents_are_400(client, db, doc, error):
    expect_error(client.put(f"/{db}/doc", json=doc), 400, error)


@pytest.mark.parametrize("doc_id", ["_bad", "_design", "_local"])
def test_illegal_doc_ids_are_400(client, db, doc_id):
    expect_error(client.put(f"/{db}/{doc_id}", json={}), 400, "illegal_docid")
    expect_error(client.post(f"/{db}", json={"_id": doc_id}), 400, "illegal_docid")


@pytest.mark.parametrize("doc_id", ["with space", "ünïcödé", "a+b", "a?b", "a#b", "a/b"])
def test_odd_doc_ids_round_trip(client, db, doc_id):
    from urllib.parse import quote
    target = f"/{db}/{quote(doc_id, safe='')}"
    assert client.put(target, json={"k": doc_id}).status == 201
    assert client.get(target).json()["_id"] == doc_id
    assert [r["id"] for r in client.get(f"/{db}/_all_docs").json()["rows"]] == [doc_id]


def test_copy(client, db):
    rev = _put(client, db, "src", {"v": 1})
    response = client.request("COPY", f"/{db}/src", headers={"Destination": "dst"})
    body = expect_json(response, 201)
    assert body["id"] == "dst" and body["rev"].startswith("1-")
    assert client.get(f"/{db}/dst").json()["v"] == 1
    # Overwrite needs the destination's rev.
    expect_error(client.request("COPY", f"/{db}/src", headers={"Destination": "dst"}), 409, "conflict")
    response = client.request("COPY", f"/{db}/src?rev={rev}",
                              headers={"Destination": f"dst?rev={body['rev']}"})
    assert expect_json(response, 201)["rev"].startswith("2-")
    expect_error(client.request("COPY", f"/{db}/src"), 400, "bad_request")
    expect_error(client.request("COPY", f"/{db}/nope", headers={"Destination": "x"}), 404, "not_found")


# -- revisions and conflicts -------------------------------------------------------------------------


@pytest.fixture
def conflicted(client, db):
    """``doc`` with a winning branch 2-b... and a losing branch 2-a..., plus a deleted leaf 2-0..."""
    rev1 = _put(client, db, "doc", {"v": 1})
    h = rev1.split("-")[1]
    docs = [
        {"_id": "doc", "_rev": "2-" + "a" * 32, "v": "a", "_revisions": {"start": 2, "ids": ["a" * 32, h]}},
        {"_id": "doc", "_rev": "2-" + "b" * 32, "v": "b", "_revisions": {"start": 2, "ids": ["b" * 32, h]}},
        {"_id": "doc", "_rev": "2-" + "0" * 32, "_deleted": True,
         "_revisions": {"start": 2, "ids": ["0" * 32, h]}},
    ]
    response = client.post(f"/{db}/_bulk_docs", json={"docs": docs, "new_edits": False})
    assert expect_json(response, 201) == []
    return db, rev1


def test_winner_and_conflicts(client, conflicted):
    db, _ = conflicted
    doc = expect_json(client.get(f"/{db}/doc?conflicts=true&deleted_conflicts=true"))
    assert doc["_rev"] == "2-" + "b" * 32
    assert doc["_conflicts"] == ["2-" + "a" * 32]
    assert doc["_deleted_conflicts"] == ["2-" + "0" * 32]
    assert "_conflicts" not in client.get(f"/{db}/doc").json()


def test_revs_and_revs_info(client, conflicted):
    db, rev1 = conflicted
    doc = client.get(f"/{db}/doc?revs=true&revs_info=true").json()
    assert doc["_revisions"] == {"start": 2, "ids": ["b" * 32, rev1.split("-")[1]]}
    assert doc["_revs_info"] == [{"rev": "2-" + "b" * 32, "status": "available"},
                                 {"rev": rev1, "status": "available"}]


def test_local_seq(client, conflicted):
    db, _ = conflicted
    doc = client.get(f"/{db}/doc?local_seq=true").json()
    assert isinstance(doc["_local_seq"], int)


def test_open_revs_all(client, conflicted):
    db, _ = conflicted
    rows = expect_json(client.get(f"/{db}/doc?open_revs=all"))
    revs = sorted(row["ok"]["_rev"] for row in rows)
    assert revs == ["2-" + "0" * 32, "2-" + "a" * 32, "2-" + "b" * 32]
    deleted = [row["ok"] for row in rows if row["ok"]["_rev"].endswith("0" * 32)][0]
    assert deleted["_deleted"] is True


def test_open_revs_list_and_latest(client, conflicted):
    db, rev1 = conflicted
    missing = "9-" + "f" * 32
    rows = expect_json(client.get(f'/{db}/doc?open_revs=["{rev1}","{missing}"]'))
    assert rows[0]["ok"]["_rev"] == rev1
    assert rows[1] == {"missing": missing}
    rows = expect_json(client.get(f'/{db}/doc?open_revs=["{rev1}"]&latest=true'))
    assert sorted(row["ok"]["_rev"] for row in rows) == ["2-" + "0" * 32, "2-" + "a" * 32, "2-" + "b" * 32]


def test_open_revs_with_revs(client, conflicted):
    # PouchDB's fallback when _bulk_get is missing: GET ?open_revs=[..]&revs=true&latest=true (DESIGN.md 3).
    db, rev1 = conflicted
    rows = expect_json(client.get(f'/{db}/doc?open_revs=["{rev1}"]&revs=true&latest=true'))
    assert all(row["ok"]["_revisions"]["start"] == 2 for row in rows)
    rows = expect_json(client.get(f"/{db}/doc?open_revs=all&revs=true"))
    assert len(rows) == 3 and all("_revisions" in row["ok"] for row in rows)


@pytest.mark.parametrize("value", ["foo", "5", '{"a":1}', "[1]", '["bogus"]'])
def test_bad_open_revs_is_400(client, conflicted, value):
    db, _ = conflicted
    expect_error(client.get(f"/{db}/doc?open_revs={value}"), 400, "bad_request")


def test_open_revs_of_a_missing_doc(client, db):
    rev = "1-" + "a" * 32
    assert expect_json(client.get(f'/{db}/nope?open_revs=["{rev}"]')) == [{"missing": rev}]
    expect_error(client.get(f"/{db}/nope?open_revs=all"), 404, "not_found")


def test_get_an_old_rev(client, db):
    rev1 = _put(client, db, "doc", {"v": 1})
    _put(client, db, "doc", {"v": 2, "_rev": rev1})
    assert client.get(f"/{db}/doc?rev={rev1}").json()["v"] == 1
    expect_error(client.get(f"/{db}/doc?rev=1-" + "0" * 32), 404, "not_found", "missing")
    expect_error(client.get(f"/{db}/doc?rev=junk"), 400, "bad_request")


@pytest.mark.parametrize("flag", ["revs", "conflicts", "revs_info", "attachments", "local_seq", "latest"])
def test_flags_other_than_true_are_off(client, db, flag):
    """chttpd_db:parse_doc_query/1 reads only "true"; anything else leaves the flag off, never a 400."""
    rev = _put(client, db, "doc", {})
    assert expect_json(client.get(f"/{db}/doc?{flag}=yes")) == {"_id": "doc", "_rev": rev}


def test_resolve_a_conflict(client, conflicted):
    db, _ = conflicted
    response = client.delete(f"/{db}/doc?rev=2-" + "a" * 32)
    assert expect_json(response)["rev"].startswith("3-")
    doc = client.get(f"/{db}/doc?conflicts=true").json()
    assert "_conflicts" not in doc and doc["_rev"] == "2-" + "b" * 32


# -- _local documents --------------------------------------------------------------------------------


def test_local_docs(client, db):
    body = expect_json(client.put(f"/{db}/_local/cp", json={"seq": 1}), 201)
    assert body == {"ok": True, "id": "_local/cp", "rev": "0-1"}
    assert client.get(f"/{db}/_local/cp").json() == {"_id": "_local/cp", "_rev": "0-1", "seq": 1}
    assert client.put(f"/{db}/_local/cp", json={"seq": 2, "_rev": "0-1"}).json()["rev"] == "0-2"
    # Never in _all_docs or _changes (DESIGN.md section 3).
    assert client.get(f"/{db}/_all_docs").json()["rows"] == []
    assert client.get(f"/{db}/_changes").json()["results"] == []
    assert expect_json(client.delete(f"/{db}/_local/cp?rev=0-2"))["ok"] is True
    expect_error(client.get(f"/{db}/_local/cp"), 404, "not_found", "missing")


def test_local_docs_check_no_revs_as_couchdb_does(client, db):
    """CouchDB 3.x's couch_db_updater:increment_local_doc_revs/1 checks nothing: a write naming 0-N
    makes 0-(N+1) and the last write wins (PouchDB's checkpointer copes, as with CouchDB). A _local
    document has an opaque ETag and a Location."""
    response = client.put(f"/{db}/_local/cp", json={"seq": 1})
    assert response.header("location").endswith(f"/{db}/_local%2Fcp")
    etag = response.header("etag")
    assert client.get(f"/{db}/_local/cp").header("etag") == etag and not etag.startswith('"0-')
    assert client.put(f"/{db}/_local/cp", json={"seq": 2}).json()["rev"] == "0-1"
    assert client.put(f"/{db}/_local/cp", json={"seq": 2, "_rev": "0-7"}).json()["rev"] == "0-8"
    assert client.get(f"/{db}/_local/cp?revs=true").json()["_revisions"] == {"start": 0, "ids": ["8"]}
    expect_error(client.get(f"/{db}/_local/cp?rev=0-1"), 404, "not_found", "missing")
    expect_error(client.delete(f"/{db}/_local/cp?rev=0-1"), 404, "not_found", "missing")
    assert client.delete(f"/{db}/_local/cp").json()["rev"] == "0-0"
    expect_error(client.delete(f"/{db}/_local/cp"), 404, "not_found", "missing")


def test_local_doc_via_bulk_docs(client, db):
    response = client.post(f"/{db}/_bulk_docs", json={"docs": [{"_id": "_local/x", "v": 1}]})
    assert expect_json(response, 201)[0]["id"] == "_local/x"
    assert client.get(f"/{db}/_local/x").json()["v"] == 1


# -- _bulk_docs ----------------------------------------------------------------------------------------


def test_bulk_docs(client, db):
    response = client.post(f"/{db}/_bulk_docs", json={"docs": [{"_id": "a"}, {"v": 1}, {"_id": "a"}]})
    rows = expect_json(response, 201)
    assert rows[0]["ok"] is True and rows[0]["id"] == "a" and REV.match(rows[0]["rev"])
    assert rows[1]["ok"] is True and re.fullmatch(r"[0-9a-f]{32}", rows[1]["id"])
    # Per-document errors are rows, the request is still 201 (chttpd_db:update_doc_result_to_json/2).
    assert rows[2] == {"id": "a", "error": "conflict", "reason": CONFLICT}


def test_bulk_docs_updates_and_deletes(client, db):
    revs = {r["id"]: r["rev"] for r in client.post(f"/{db}/_bulk_docs",
                                                   json={"docs": [{"_id": "a"}, {"_id": "b"}]}).json()}
    rows = client.post(f"/{db}/_bulk_docs", json={"docs": [
        {"_id": "a", "_rev": revs["a"], "v": 2}, {"_id": "b", "_rev": revs["b"], "_deleted": True}]}).json()
    assert [r["rev"][:2] for r in rows] == ["2-", "2-"]
    assert client.get(f"/{db}/a").json()["v"] == 2
    expect_error(client.get(f"/{db}/b"), 404, "not_found", "deleted")


def test_bulk_docs_new_edits_false(client, db):
    doc = {"_id": "r", "_rev": "3-" + "c" * 32, "v": 3,
           "_revisions": {"start": 3, "ids": ["c" * 32, "b" * 32, "a" * 32]}}
    response = client.post(f"/{db}/_bulk_docs", json={"docs": [doc], "new_edits": False})
    # Successes are omitted with new_edits:false (DESIGN.md section 3).
    assert expect_json(response, 201) == []
    assert client.get(f"/{db}/r?revs=true").json()["_revisions"] == doc["_revisions"]
    # Idempotent: the same revision again changes nothing and bumps no sequence.
    seq = client.get("/" + db).json()["update_seq"]
    assert client.post(f"/{db}/_bulk_docs", json={"docs": [doc], "new_edits": False}).json() == []
    assert client.get("/" + db).json()["update_seq"] == seq


@pytest.mark.parametrize("body", [{"docs": [{"v": 1}]}, {"docs": [{"_id": "x"}]}])
def test_bulk_docs_new_edits_false_needs_id_and_rev(client, db, body):
    body["new_edits"] = False
    expect_error(client.post(f"/{db}/_bulk_docs", json=body), 400, "bad_request")


@pytest.mark.parametrize("body", [[], {}, {"docs": {}}, {"docs": [1]}, {"docs": [], "new_edits": "no"},
                                  {"docs": [{"_id": 5}]}, {"docs": [{"_rev": []}]}])
def test_bad_bulk_docs_are_400(client, db, body):
    response = client.post(f"/{db}/_bulk_docs", json=body)
    assert response.status == 400, response.body
    assert response.json()["error"] in ("bad_request", "illegal_docid")


def test_bulk_docs_needs_json_content_type(client, db):
    # chttpd_db: POST _bulk_docs calls couch_httpd:validate_ctype(Req, "application/json") -> 415.
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {} if content_type is None else {"Content-Type": content_type}
        response = client.post(f"/{db}/_bulk_docs", body=b'{"docs":[]}', headers=headers)
        expect_error(response, 415, "bad_content_type")
    response = client.post(f"/{db}/_bulk_docs", body=b'{"docs":[]}',
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status == 201


def test_bulk_docs_malformed_json_is_400(client, db):
    response = client.post(f"/{db}/_bulk_docs", body=b'{"docs": [',
                           headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


def test_deterministic_revs(client, make_client):
    # The rev hash is md5 of the canonical edit, so a retry on another server gives the same rev.
    other = make_client()
    for c in (client, other):
        c.put("/d")
    assert client.put("/d/x", json={"a": 1, "b": [1, 2]}).json()["rev"] == \
        other.put("/d/x", json={"b": [1, 2], "a": 1}).json()["rev"]


# -- _bulk_get -------------------------------------------------------------------------------------------


def test_bulk_get(client, conflicted):
    db, rev1 = conflicted
    body = {"docs": [{"id": "doc"}, {"id": "doc", "rev": rev1}, {"id": "nope"},
                     {"id": "doc", "rev": "5-" + "e" * 32}]}
    results = expect_json(client.post(f"/{db}/_bulk_get", json=body))["results"]
    assert [r["id"] for r in results] == ["doc", "doc", "nope", "doc"]
    # Without a rev, CouchDB 3.4.3 answers every leaf, lowest first.
    assert [d["ok"]["_rev"] for d in results[0]["docs"]] == ["2-" + c * 32 for c in "0ab"]
    assert results[1]["docs"][0]["ok"]["_rev"] == rev1
    error = results[2]["docs"][0]["error"]
    assert error["id"] == "nope" and error["error"] == "not_found"
    assert results[3]["docs"][0]["error"]["rev"] == "5-" + "e" * 32


def test_bulk_get_latest(client, conflicted):
    db, rev1 = conflicted
    body = {"docs": [{"id": "doc", "rev": rev1}]}
    docs = client.post(f"/{db}/_bulk_get?latest=true", json=body).json()["results"][0]["docs"]
    assert sorted(d["ok"]["_rev"] for d in docs) == ["2-" + "0" * 32, "2-" + "a" * 32, "2-" + "b" * 32]


def test_bulk_get_as_pouchdb_calls_it(client, conflicted):
    # PouchDB's replicator: POST _bulk_get?revs=true&latest=true (DESIGN.md section 3).
    db, rev1 = conflicted
    body = {"docs": [{"id": "doc", "rev": "2-" + "b" * 32}, {"id": "doc", "rev": rev1}]}
    results = expect_json(client.post(f"/{db}/_bulk_get?revs=true&latest=true", json=body))["results"]
    assert results[0]["docs"][0]["ok"]["_revisions"] == {"start": 2, "ids": ["b" * 32, rev1[2:]]}
    assert len(results[1]["docs"]) == 3


@pytest.mark.parametrize("body", [[], {}, {"docs": "x"}])
def test_bad_bulk_get_is_400(client, db, body):
    expect_error(client.post(f"/{db}/_bulk_get", json=body), 400, "bad_request")


@pytest.mark.parametrize("entry", [5, None, {"id": 5}, {"id": "a", "rev": 5}, {"id": "a", "rev": "bad"}])
def test_bulk_get_bad_entries_are_error_rows(client, db, entry):
    _put(client, db, "a", {})
    response = client.post(f"/{db}/_bulk_get", json={"docs": [entry]})
    results = expect_json(response)["results"]
    assert len(results) == 1 and "error" in results[0]["docs"][0]


# -- _revs_diff and _missing_revs -----------------------------------------------------------------------


def test_revs_diff(client, conflicted):
    db, rev1 = conflicted
    unknown = "3-" + "d" * 32
    body = {"doc": [rev1, "2-" + "a" * 32, unknown], "other": ["1-" + "1" * 32]}
    result = expect_json(client.post(f"/{db}/_revs_diff", json=body))
    assert result["doc"]["missing"] == [unknown]
    assert set(result["doc"]["possible_ancestors"]) <= {rev1, "2-" + "a" * 32, "2-" + "b" * 32,
                                                         "2-" + "0" * 32}
    assert result["other"] == {"missing": ["1-" + "1" * 32]}
    assert expect_json(client.post(f"/{db}/_revs_diff", json={"doc": [rev1]})) == {}


def test_missing_revs(client, conflicted):
    db, rev1 = conflicted
    unknown = "3-" + "d" * 32
    result = expect_json(client.post(f"/{db}/_missing_revs", json={"doc": [rev1, unknown]}))
    assert result == {"missing_revs": {"doc": [unknown]}}


@pytest.mark.parametrize("body", [[], "x", {"doc": "1-a"}, {"doc": [5]}, {"doc": ["bogus"]}])
def test_bad_revs_diff_is_400(client, db, body):
    expect_error(client.post(f"/{db}/_revs_diff", json=body), 400, "bad_request")


# -- limits -----------------------------------------------------------------------------------------------


def test_document_too_large_is_413(make_client):
    client = make_client(max_document_size=1000)
    client.put("/small")
    # couch_doc:from_json_obj_validate/2 -> {request_entity_too_large, DocId} -> 413 document_too_large.
    response = client.put("/small/big", json={"blob": "x" * 2000})
    body = expect_error(response, 413, "document_too_large")
    assert body["reason"] == "big"
    docs = [{"_id": "ok"}, {"_id": "big", "b": "x" * 2000}]
    response = client.post("/small/_bulk_docs", json={"docs": docs})
    expect_error(response, 413, "document_too_large")
    assert client.get("/small/ok").status == 404
    assert client.put("/small/fine", json={"blob": "x" * 500}).status == 201


def test_request_too_large_is_413(make_client):
    client = make_client(max_request_size=10_000)
    client.put("/small")
    # chttpd: a body over [chttpd] max_http_request_size -> 413 {"error":"too_large", ...}.
    response = client.put("/small/big", json={"blob": "x" * 20_000})
    expect_error(response, 413, "too_large")
    response = client.post("/small/_bulk_docs", json={"docs": [{"b": "x" * 5000} for _ in range(3)]})
    expect_error(response, 413, "too_large")
    assert client.put("/small/fine", json={"blob": "x" * 5000}).status == 201


def test_request_too_large_without_content_length(make_client):
    client = make_client(max_request_size=10_000)
    client.put("/small")

    async def chunked():
        for _ in range(10):
            yield b" " * 2000
        yield b"{}"

    async def send():
        conn = await client.connect()
        return await conn.request("PUT", "/small/big", {"Content-Type": "application/json"}, chunked())

    expect_error(client.run(send()), 413, "too_large")


def test_put_new_edits_false(client, db):
    # CouchDB's replicator writes a single document with PUT ?new_edits=false (JSON when it has no
    # attachments): the given revision is stored as is, and 201 names it.
    doc = {"_rev": "2-" + "b" * 32, "v": 2, "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]}}
    body = expect_json(client.put(f"/{db}/rep?new_edits=false", json=doc), 201)
    assert body["rev"] == "2-" + "b" * 32
    assert client.get(f"/{db}/rep?revs=true").json()["_revisions"] == doc["_revisions"]
    # The same again is a no-op, not a conflict.
    assert client.put(f"/{db}/rep?new_edits=false", json=doc).status == 201
    expect_error(client.put(f"/{db}/rep2?new_edits=false", json={"v": 1}), 400, "bad_request")


# Apache CouchDB's replicator (DESIGN.md section 3) asks for a document with attachments as
# multipart/mixed and writes one as multipart/related.


def test_open_revs_as_multipart_mixed(client, db):
    doc = {"_attachments": {"a.txt": {"content_type": "text/plain", "data": "aGk="}}}
    rev = client.put(f"/{db}/doc", json=doc).json()["rev"]
    response = client.get(f'/{db}/doc?open_revs=["{rev}","9-zz"]&latest=true&revs=true&attachments=true',
                          headers={"Accept": "multipart/mixed"})
    assert response.status == 200
    content_type = response.header("content-type")
    assert content_type.startswith("multipart/mixed")
    found, missing = multipart.parse(response.body, multipart.boundary_of(content_type))
    assert json.loads(missing[1]) == {"missing": "9-zz"} and 'error="true"' in missing[0]["content-type"]
    inner_doc, data = multipart.read_related(found[1], found[0]["content-type"])
    assert inner_doc["_rev"] == rev and inner_doc["_revisions"]["start"] == 1
    # As CouchDB 3.4.3 sends it: the text attachment as stored, gzip-encoded, and saying so.
    att = inner_doc["_attachments"]["a.txt"]
    assert att["follows"] is True and (att["encoding"], att["length"]) == ("gzip", 2)
    assert att["encoded_length"] == len(data["a.txt"]) and gzip.decompress(data["a.txt"]) == b"hi"


def test_open_revs_multipart_sends_attachments_without_attachments_true(client, db):
    """CouchDB's replicator asks ``open_revs`` with ``atts_since`` or nothing, never ``attachments=true``:
    every attachment it has not got follows (chttpd_db:send_docs_multipart/3). A stub there failed its
    pull with missing_stub."""
    doc = {"_attachments": {"a.bin": {"content_type": "image/png", "data": "aGk="}}}
    rev = client.put(f"/{db}/doc", json=doc).json()["rev"]
    response = client.get(f'/{db}/doc?open_revs=["{rev}"]&latest=true&revs=true',
                          headers={"Accept": "multipart/mixed"})
    (headers, body), = multipart.parse(response.body, multipart.boundary_of(response.header("content-type")))
    inner_doc, data = multipart.read_related(body, headers["content-type"])
    assert inner_doc["_attachments"]["a.bin"]["follows"] is True and data == {"a.bin": b"hi"}


@pytest.mark.parametrize("accept, multipart_answer", [
    (None, True), ("*/*", True), ("multipart/*", True), ("multipart/related", True),
    ("application/json", False), ("application/json, multipart/related;q=0", False),
    ("*/*, multipart/*;q=0", False),
])
def test_attachments_come_as_multipart_when_accept_admits_it(client, db, accept, multipart_answer):
    """mochiweb's accepts_content_type: no Accept header means */* (curl gets multipart from CouchDB)."""
    client.put(f"/{db}/doc", json={"_attachments": {"a.bin": {"data": "aGk="}}})
    response = client.get(f"/{db}/doc?attachments=true", headers={"Accept": accept})
    assert response.header("content-type").startswith("multipart/related") == multipart_answer


def test_open_revs_multipart_sends_stubs_older_than_atts_since(client, db):
    doc = {"_attachments": {"a.txt": {"content_type": "text/plain", "data": "aGk="}}}
    first = client.put(f"/{db}/doc", json=doc).json()["rev"]
    stub = {"_attachments": {"a.txt": {"stub": True}}, "x": 1}
    second = client.put(f"/{db}/doc?rev={first}", json=stub).json()["rev"]
    response = client.get(f'/{db}/doc?open_revs=["{second}"]&atts_since=["{first}"]',
                          headers={"Accept": "multipart/mixed"})
    (headers, body), = multipart.parse(response.body, multipart.boundary_of(response.header("content-type")))
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["_attachments"]["a.txt"]["stub"] is True


def test_get_with_attachments_as_multipart_related(client, db):
    doc = {"_attachments": {"a.txt": {"content_type": "text/plain", "data": "aGk="}}}
    client.put(f"/{db}/doc", json=doc)
    response = client.get(f"/{db}/doc?attachments=true", headers={"Accept": "multipart/related"})
    assert response.header("content-type").startswith("multipart/related")
    got, data = multipart.read_related(response.body, response.header("content-type"))
    assert got["_id"] == "doc" and gzip.decompress(data["a.txt"]) == b"hi"


def test_put_multipart_related_new_edits_false(client, db):
    boundary = "abc"
    doc = {"_id": "m", "_rev": "1-" + "a" * 32, "_revisions": {"start": 1, "ids": ["a" * 32]},
           "_attachments": {"a.txt": {"content_type": "text/plain", "length": 2, "follows": True}}}
    body = (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(doc)}\r\n"
            f"--{boundary}\r\n\r\nhi\r\n--{boundary}--").encode()
    response = client.put(f"/{db}/m?new_edits=false", body=body,
                          headers={"Content-Type": f'multipart/related; boundary="{boundary}"'})
    assert response.status == 201
    assert client.get(f"/{db}/m/a.txt").body == b"hi"


# -- answers pinned to CouchDB 3.4.3's (tests/conformance compares them with the real one) -------------


def test_writes_answer_with_location_and_etag_as_couchdb(client, db):
    response = client.put(f"/{db}/a%20b", json={})
    assert response.header("location").endswith(f"/{db}/a%20b") and response.header("etag")
    response = client.post(f"/{db}", json={"_id": "_design/d"})
    assert response.header("location").endswith(f"/{db}/_design%2Fd") and response.header("etag") is None
    for method, target in (("PUT", f"/{db}/b?batch=ok"), ("POST", f"/{db}?batch=ok")):
        response = client.request(method, target, json={"_id": "b2"} if method == "POST" else {})
        assert response.status == 202 and response.header("etag") is None
        assert set(response.json()) == {"ok", "id"}


def test_a_read_with_meta_members_has_no_etag(client, conflicted):
    db, _ = conflicted
    assert client.get(f"/{db}/doc").header("etag")
    for query in ("conflicts=true", "revs_info=true", "local_seq=true", "meta=true"):
        assert client.get(f"/{db}/doc?{query}").header("etag") is None, query


def test_bulk_docs_bodies_and_all_or_nothing_as_couchdb(client, db):
    reasons = {"Request body must be a JSON object": [], "`docs` parameter must be an array.": {"docs": {}},
               "POST body must include `docs` parameter.": {}}
    for reason, body in reasons.items():
        expect_error(client.post(f"/{db}/_bulk_docs", json=body), 400, "bad_request", reason)
    response = client.post(f"/{db}/_bulk_docs", json={"all_or_nothing": True, "docs": [{"_id": "x"}]})
    assert response.status == 417 and response.json() == [
        {"id": "x", "rev": "0-", "error": "not_implemented", "reason": "all_or_nothing is not supported"}]
    expect_error(client.get(f"/{db}/x"), 404, "not_found")
    rows = client.post(f"/{db}/_bulk_docs", json={"docs": [{"_id": n} for n in ("zeta", "alpha", "mu")]})
    assert rows.status == 201
    assert [row["id"] for row in client.get(f"/{db}/_changes").json()["results"]] == ["alpha", "mu", "zeta"]


def test_put_new_edits_false_answers_the_stored_rev(client, db):
    doc = {"_rev": "3-x", "_revisions": {"start": 2, "ids": ["y", "z"]}}
    assert client.put(f"/{db}/p?new_edits=false", json=doc).json()["rev"] == "2-y"


def test_copy_a_local_document(client, db):
    client.put(f"/{db}/_local/cp", json={"seq": 1})
    response = client.request("COPY", f"/{db}/_local/cp", headers={"Destination": "_local/cp2"})
    assert expect_json(response, 201) == {"ok": True, "id": "_local/cp2", "rev": "0-1"}
    assert client.get(f"/{db}/_local/cp2").json() == {"_id": "_local/cp2", "_rev": "0-1", "seq": 1}
