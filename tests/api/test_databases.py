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
    # CouchDB 3.4.3 percent-encodes the name in Location (couch_util:url_encode/1).
    assert client.put("/a%2Fb").header("location").endswith("/a%2Fb")
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


# CouchDB 3.4.3 answers these (couch_mrview_http:parse_params/4 and parse_boolean/parse_pos_int, which
# show the value as Erlang's ~p does: "x" from a query string, <<"x">> from a body).
@pytest.mark.parametrize("query, error, reason", [
    ("limit=-1", "query_parse_error", 'Invalid value for positive integer: "-1"'),
    ("limit=x", "query_parse_error", 'Invalid value for integer: "x"'),
    ("limit=1.5", "query_parse_error", 'Invalid value for integer: "1.5"'),
    ("limit=", "query_parse_error", "Invalid value for integer: []"),
    ("skip=-3", "query_parse_error", 'Invalid value for positive integer: "-3"'),
    ("skip=-" + "9" * 5000, "query_parse_error", 'Invalid value for positive integer: "-' + "9" * 5000 + '"'),
    ("descending=2", "query_parse_error", 'Invalid boolean parameter: "2"'),
    ("include_docs=yes", "query_parse_error", 'Invalid boolean parameter: "yes"'),
    ("conflicts=%7B%7D", "query_parse_error", 'Invalid boolean parameter: "{}"'),
    ("startkey=notjson", "bad_request", "invalid UTF-8 JSON"),
    ("keys=5", "bad_request", "`keys` parameter must be an array."),
])
def test_all_docs_bad_parameters_are_400(client, abc, query, error, reason):
    expect_error(client.get(f"/{abc}/_all_docs?{query}"), 400, error, reason)


@pytest.mark.parametrize("body, error, reason", [
    ([], "bad_request", "Request body must be a JSON object"),
    ({"keys": "a"}, "bad_request", "`keys` body member must be an array."),
    ({"limit": "1"}, "query_parse_error", 'Invalid value for integer: <<"1">>'),
    ({"limit": 1.5}, "query_parse_error", "Invalid value for integer: 1.5"),
    ({"descending": 1}, "query_parse_error", "Invalid boolean parameter: 1"),
])
def test_all_docs_bad_bodies(client, abc, body, error, reason):
    # CouchDB 3.4.3 answers these.
    expect_error(client.post(f"/{abc}/_all_docs", json=body), 400, error, reason)


def test_all_docs_keys_that_are_no_ids_are_not_found(client, abc):
    rows = expect_json(client.post(f"/{abc}/_all_docs", json={"keys": [1, None]}))["rows"]
    assert rows == [{"key": 1, "error": "not_found"}, {"key": None, "error": "not_found"}]


@pytest.mark.parametrize("query, ids", [
    ("startkey=5", ["_design/x", "a", "b", "d", "e"]),
    ("endkey=5", []),
    ("endkey=null", []),
    ("startkey=null&endkey=%7B%7D", []),
    ("descending=true&endkey=[1]", ["e", "d", "b", "a", "_design/x"]),
    ("TRUE_CASE", ["e", "d", "b", "a", "_design/x"]),
    ("limit=%2B2", ["_design/x", "a"]),
])
def test_all_docs_bounds_that_are_no_ids_sort_first(client, abc, query, ids):
    # CouchDB 3.4.3's id tree compares Erlang terms: a number, null, a list or an object sorts before
    # every string, so such a start takes every id and such an end none. Booleans are any case.
    query = "descending=TRUE" if query == "TRUE_CASE" else query
    assert _ids(expect_json(client.get(f"/{abc}/_all_docs?{query}"))) == ids


INCOMPATIBLE = "`keys` is incompatible with `key`, `start_key` and `end_key`"


@pytest.mark.parametrize("method, query, body", [
    ("GET", 'keys=["a","b"]&key="a"', None),
    ("GET", 'keys=["a","b"]&startkey="a"', None),
    ("GET", 'keys=["a","b"]&end_key="b"', None),
    ("GET", 'keys=["a"]&startkey="b"', None),
    ("POST", "", {"keys": ["a", "b"], "key": "a"}),
    ("POST", 'startkey="b"', {"keys": ["a"]}),
    ("POST", 'endkey="z"', {"keys": ["a", "b"]}),
])
def test_all_docs_keys_with_a_bound_is_400(client, abc, method, query, body):
    # CouchDB 3.4.3 (couch_mrview_util:validate_args/1): query_parse_error, status 400.
    response = client.request(method, f"/{abc}/_all_docs?{query}", json=body)
    expect_error(response, 400, "query_parse_error", INCOMPATIBLE)


@pytest.mark.parametrize("query", ['keys=["a"]&key="a"', 'startkey="b"&keys=["a"]', "keys=[]&key=\"a\""])
def test_all_docs_keys_with_bounds_they_imply_are_fine(client, abc, query):
    # CouchDB 3.4.3: one key sets both bounds to itself, so the same `key` agrees with it, and a bound
    # given before `keys` is overridden by it; no keys at all never conflict.
    assert expect_json(client.get(f"/{abc}/_all_docs?{query}"))["offset"] is None


def test_all_docs_keys_offset_is_null_and_descending_reverses_them(client, abc):
    # CouchDB 3.4.3 reads keys one by one: no offset or update_seq, and `descending` walks the list
    # backwards.
    query = 'keys=["a","e","b"]&descending=true&skip=1&update_seq=true'
    body = expect_json(client.get(f"/{abc}/_all_docs?{query}"))
    assert body["offset"] is None and body["update_seq"] is None
    assert [row["key"] for row in body["rows"]] == ["e", "a"]


@pytest.mark.parametrize("query, offset", [
    ("skip=100", 5),
    ('startkey="b"&endkey="d"&skip=10', 5),
    ('startkey="b"&endkey="b"&skip=2', 4),
    ('startkey="b"&endkey="b"&inclusive_end=false&skip=1', 3),
    ('startkey="zz"', 5),
    ('descending=true&startkey="d"&skip=1', 2),
])
def test_all_docs_offset_adds_the_skip_up_to_total_rows(client, abc, query, offset):
    # CouchDB 3.4.3 (fabric_view_all_docs): the documents before the start, plus the skip whether or not
    # the range had that many rows, at most total_rows.
    assert expect_json(client.get(f"/{abc}/_all_docs?{query}"))["offset"] == offset


def test_all_docs_keys_find_local_documents(client, abc):
    # CouchDB 3.4.3 finds a _local document by key (never in a range).
    response = client.post(f"/{abc}/_all_docs?include_docs=true", json={"keys": ["_local/l"]})
    rows = expect_json(response)["rows"]
    assert rows == [{"id": "_local/l", "key": "_local/l", "value": {"rev": "0-1"},
                     "doc": {"_id": "_local/l", "_rev": "0-1"}}]
    assert _ids(client.get(f"/{abc}/_all_docs").json()) == ["_design/x", "a", "b", "d", "e"]


def test_design_docs(client, abc):
    body = expect_json(client.get(f"/{abc}/_design_docs"))
    assert _ids(body) == ["_design/x"]
    # CouchDB 3.4.3: total_rows counts the design documents only.
    assert body["total_rows"] == 1


def test_local_docs(client, abc):
    rows = expect_json(client.get(f"/{abc}/_local_docs"))["rows"]
    assert [r["id"] for r in rows] == ["_local/l"]
    # CouchDB 3.4.3 includes the documents when asked.
    rows = expect_json(client.get(f"/{abc}/_local_docs?include_docs=true"))["rows"]
    assert rows[0]["doc"] == {"_id": "_local/l", "_rev": "0-1"}


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "POST", "DELETE", "COPY"])
@pytest.mark.parametrize("doc", ["l", "missing"])
def test_attachments_of_local_documents_are_400(client, abc, method, doc):
    # CouchDB 3.4.3 (chttpd_db:db_req/2) refuses them before looking at the document.
    response = client.request(method, f"/{abc}/_local/{doc}/a.txt?rev=0-1", body=b"x",
                              headers={"Content-Type": "text/plain"})
    if method == "HEAD":
        assert response.status == 400
    else:
        expect_error(response, 400, "bad_request", "_local documents do not accept attachments.")


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


def test_a_skip_of_thousands_of_digits_skips_everything(client, abc):
    """Found by tests/system/test_fuzz.py: int() refuses over 4300 digits, which was a 500."""
    rows = expect_json(client.get(f"/{abc}/_all_docs?skip=" + "9" * 5000))["rows"]
    assert rows == []
