"""Database routes (``api/databases.py``): create, info, delete, ``_all_docs``, ``_design_docs``,
``_local_docs``, ``_revs_limit``, ``_security``, ``_compact``, ``_ensure_full_commit``."""

import pytest

from .util import expect_error, expect_json

NOT_FOUND = "Database does not exist."
# couch_db:validate_dbname/1 (CouchDB 3.x) explains the rule in its reason.
ILLEGAL_REASON = ("Only lowercase characters (a-z), digits (0-9), and any of the characters "
                  "_, $, (, ), +, -, and / are allowed. Must begin with a letter.")


def test_create_info_delete(client):
    response = client.put("/albums")
    assert expect_json(response, 201) == {"ok": True}
    assert response.header("location").endswith("/albums")
    info = expect_json(client.get("/albums"))
    assert info["db_name"] == "albums"
    assert info["doc_count"] == 0 and info["doc_del_count"] == 0
    assert info["update_seq"] in (0, "0") or isinstance(info["update_seq"], (int, str))
    assert {"sizes", "purge_seq", "instance_start_time", "compact_running"} <= set(info)
    assert client.head("/albums").status == 200
    assert expect_json(client.delete("/albums")) == {"ok": True}
    expect_error(client.get("/albums"), 404, "not_found", NOT_FOUND)


def test_create_twice_is_412(client, db):
    expect_error(client.put("/" + db), 412, "file_exists",
                 "The database could not be created, the file already exists.")


@pytest.mark.parametrize("name", ["Upper", "1abc", "a%20b", "a.b", "-x", "a" * 239])
def test_illegal_database_name_is_400(client, name):
    body = expect_error(client.put("/" + name), 400, "illegal_database_name")
    assert ILLEGAL_REASON in body["reason"]


@pytest.mark.parametrize("name", ["a", "a-b_c$d(e)f+g", "a%2Fb", "z0"])
def test_legal_database_names(client, name):
    assert client.put("/" + name).status == 201
    assert client.get("/" + name).status == 200


def test_missing_database(client):
    for method, target in [("GET", "/nope"), ("DELETE", "/nope"), ("GET", "/nope/doc"),
                           ("GET", "/nope/_all_docs"), ("GET", "/nope/_changes"),
                           ("POST", "/nope/_bulk_docs")]:
        response = client.request(method, target, json={"docs": []} if method == "POST" else None)
        expect_error(response, 404, "not_found", NOT_FOUND)
    response = client.head("/nope")
    assert response.status == 404 and response.body == b""


def test_delete_with_rev_is_400(client, db):
    # chttpd_db:handle_request/1 refuses ``DELETE /db?rev=``: the client meant a document.
    expect_error(client.delete(f"/{db}?rev=1-abc"), 400, "bad_request")
    assert client.get("/" + db).status == 200


def test_doc_counts_and_update_seq(client, db):
    client.post(f"/{db}/_bulk_docs", json={"docs": [{"_id": "a"}, {"_id": "b"}]})
    rev = client.get(f"/{db}/a").json()["_rev"]
    client.delete(f"/{db}/a?rev={rev}")
    info = client.get("/" + db).json()
    assert info["doc_count"] == 1 and info["doc_del_count"] == 1
    assert int(str(info["update_seq"]).split("-")[0]) == 3


# -- _all_docs -----------------------------------------------------------------------------------------


@pytest.fixture
def abc(client, db):
    """``db`` with documents a..e, a design document and a local one; ``c`` is deleted."""
    docs = [{"_id": i, "n": n} for n, i in enumerate("abcde")] + [{"_id": "_design/x"}]
    revs = {row["id"]: row["rev"] for row in client.post(f"/{db}/_bulk_docs", json={"docs": docs}).json()}
    client.delete(f"/{db}/c?rev={revs['c']}")
    client.put(f"/{db}/_local/l", json={})
    return db


def _ids(body):
    return [row["id"] for row in body["rows"]]


def test_all_docs(client, abc):
    body = expect_json(client.get(f"/{abc}/_all_docs"))
    assert _ids(body) == ["_design/x", "a", "b", "d", "e"]
    assert body["total_rows"] == 5 and body["offset"] == 0
    row = body["rows"][1]
    assert row["key"] == "a" and row["value"]["rev"].startswith("1-") and "doc" not in row


@pytest.mark.parametrize("query, ids", [
    ('startkey="b"', ["b", "d", "e"]),
    ('start_key="b"&end_key="d"', ["b", "d"]),
    ('startkey="b"&endkey="d"&inclusive_end=false', ["b"]),
    ('endkey="b"', ["_design/x", "a", "b"]),
    ("descending=true", ["e", "d", "b", "a", "_design/x"]),
    ('descending=true&startkey="d"&endkey="a"', ["d", "b", "a"]),
    ('descending=true&startkey="d"&endkey="a"&inclusive_end=false', ["d", "b"]),
    ("limit=2", ["_design/x", "a"]),
    ("limit=2&skip=2", ["b", "d"]),
    ("skip=10", []),
    ("limit=0", []),
    ('key="b"', ["b"]),
    ('key="c"', []),
    ('startkey_docid=b&endkey_docid=d', ["b", "d"]),
])
def test_all_docs_ranges(client, abc, query, ids):
    assert _ids(expect_json(client.get(f"/{abc}/_all_docs?{query}"))) == ids


@pytest.mark.parametrize("query, ids", [
    ("limit=99999999999999999999999", ["_design/x", "a", "b", "d", "e"]),
    ("skip=99999999999999999999999", []),
])
def test_all_docs_huge_limit_and_skip(client, abc, query, ids):
    assert _ids(expect_json(client.get(f"/{abc}/_all_docs?{query}"))) == ids
    rows = expect_json(client.post(f"/{abc}/_all_docs?{query}", json={"keys": ["a"]}))["rows"]
    assert [r["key"] for r in rows] == (["a"] if "limit" in query else [])


def test_all_docs_offset(client, abc):
    assert client.get(f'/{abc}/_all_docs?startkey="b"').json()["offset"] == 2
    assert client.get(f'/{abc}/_all_docs?skip=1').json()["offset"] == 1


def test_all_docs_include_docs_and_update_seq(client, abc):
    body = expect_json(client.get(f"/{abc}/_all_docs?include_docs=true&update_seq=true&limit=2&skip=1"))
    assert body["rows"][0]["doc"]["_id"] == "a" and body["rows"][0]["doc"]["n"] == 0
    assert body["rows"][0]["doc"]["_rev"] == body["rows"][0]["value"]["rev"]
    assert body["update_seq"] == client.get("/" + abc).json()["update_seq"]


def test_all_docs_post_keys(client, abc):
    response = client.post(f"/{abc}/_all_docs?include_docs=true", json={"keys": ["b", "c", "zz", "b"]})
    rows = expect_json(response)["rows"]
    assert [r["key"] for r in rows] == ["b", "c", "zz", "b"]
    assert rows[0]["doc"]["n"] == 1
    # A deleted document: its rev and ``deleted``, and ``doc: null`` (couch_mrview_http:row_to_json/2).
    assert rows[1]["value"]["deleted"] is True and rows[1]["doc"] is None
    assert rows[2] == {"key": "zz", "error": "not_found"}


def test_all_docs_get_keys(client, abc):
    rows = expect_json(client.get(f'/{abc}/_all_docs?keys=["e","a"]'))["rows"]
    assert [r["id"] for r in rows] == ["e", "a"]


def test_all_docs_post_without_json_content_type_is_415(client, abc):
    response = client.post(f"/{abc}/_all_docs", body=b'{"keys":[]}', headers={"Content-Type": "text/plain"})
    expect_error(response, 415, "bad_content_type")


@pytest.mark.parametrize("query", ["limit=-1", "limit=x", "skip=-3", "descending=2", "startkey=notjson",
                                   "include_docs=yes", "keys=5", "startkey=5", "conflicts=%7B%7D"])
def test_all_docs_bad_parameters_are_400(client, abc, query):
    expect_error(client.get(f"/{abc}/_all_docs?{query}"), 400, "bad_request")


@pytest.mark.parametrize("body", [[], {"keys": "a"}, {"limit": "1"}, {"descending": 1}, {"keys": [1, None]}])
def test_all_docs_bad_bodies(client, abc, body):
    response = client.post(f"/{abc}/_all_docs", json=body)
    if isinstance(body, dict) and body.get("keys") == [1, None]:
        rows = expect_json(response)["rows"]
        assert [r["error"] for r in rows] == ["not_found", "not_found"]
    else:
        expect_error(response, 400, "bad_request")


def test_design_docs(client, abc):
    assert _ids(expect_json(client.get(f"/{abc}/_design_docs"))) == ["_design/x"]


def test_local_docs(client, abc):
    rows = expect_json(client.get(f"/{abc}/_local_docs"))["rows"]
    assert [r["id"] for r in rows] == ["_local/l"]


# -- settings and maintenance ---------------------------------------------------------------------


def test_revs_limit(client, db):
    assert expect_json(client.get(f"/{db}/_revs_limit")) == 1000
    assert expect_json(client.put(f"/{db}/_revs_limit", json=5)) == {"ok": True}
    assert client.get(f"/{db}/_revs_limit").json() == 5


@pytest.mark.parametrize("value", [0, -1, "5", 1.5, None, {"a": 1}, True])
def test_bad_revs_limit_is_400(client, db, value):
    expect_error(client.put(f"/{db}/_revs_limit", body=b"null" if value is None else None,
                            json=value, headers={"Content-Type": "application/json"}), 400, "bad_request")


def test_revs_limit_stems_history(client, db):
    client.put(f"/{db}/_revs_limit", json=3)
    rev = client.put(f"/{db}/d", json={}).json()["rev"]
    for _ in range(5):
        rev = client.put(f"/{db}/d", json={"_rev": rev}).json()["rev"]
    revisions = client.get(f"/{db}/d?revs=true").json()["_revisions"]
    assert revisions["start"] == 6 and len(revisions["ids"]) == 3


def test_security_defaults_to_admin_only(client, db):
    # CouchDB 3.x ([couchdb] default_security = admin_only): new databases are for admins only.
    security = expect_json(client.get(f"/{db}/_security"))
    assert security["members"]["roles"] == ["_admin"]
    assert security["admins"]["roles"] == ["_admin"]


def test_put_security(client, db):
    security = {"admins": {"names": ["boss"], "roles": []}, "members": {"names": ["bob"], "roles": ["r"]}}
    assert expect_json(client.put(f"/{db}/_security", json=security)) == {"ok": True}
    assert client.get(f"/{db}/_security").json() == security


@pytest.mark.parametrize("security", [[], "x", {"admins": []}, {"members": {"names": "bob"}},
                                      {"members": {"roles": [1]}}])
def test_bad_security_is_400(client, db, security):
    expect_error(client.put(f"/{db}/_security", json=security), 400, "bad_request")


def test_compact(client, db):
    response = client.post(f"/{db}/_compact", json={})
    assert expect_json(response, 202) == {"ok": True}
    expect_error(client.post(f"/{db}/_compact"), 415, "bad_content_type")


def test_compact_keeps_leaves_and_attachments(client, db):
    rev1 = client.put(f"/{db}/d", json={"v": 1, "_attachments": {
        "a.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}}).json()["rev"]
    rev2 = client.put(f"/{db}/d", json={"v": 2, "_rev": rev1, "_attachments": {
        "a.txt": {"stub": True}}}).json()["rev"]
    client.post(f"/{db}/_compact", json={})
    assert client.get(f"/{db}/d").json()["v"] == 2
    assert client.get(f"/{db}/d/a.txt").body == b"hello"
    expect_error(client.get(f"/{db}/d?rev={rev1}"), 404, "not_found", "missing")
    assert client.get(f"/{db}/d?rev={rev2}").status == 200


def test_ensure_full_commit(client, db):
    # CouchDB's replicator checks for 201 and reads ``instance_start_time`` (DESIGN.md section 3).
    body = expect_json(client.post(f"/{db}/_ensure_full_commit", json={}), 201)
    assert body["ok"] is True and isinstance(body["instance_start_time"], str)


def test_view_cleanup(client, db):
    assert expect_json(client.post(f"/{db}/_view_cleanup", json={}), 202) == {"ok": True}
