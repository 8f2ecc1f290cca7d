"""Server-level routes (``api/server.py``): welcome, ``_up``, ``_uuids``, ``_all_dbs``, ``_dbs_info``,
and what every answer carries."""

import re

import pytest

from .util import expect_error, expect_json


def test_welcome_has_a_stable_uuid(client):
    # PouchDB builds its replication id from this uuid: it must not change between requests.
    first = expect_json(client.get("/"))
    second = expect_json(client.get("/"))
    assert first["couchdb"] == "Welcome"
    assert re.fullmatch(r"[0-9a-f]{32}", first["uuid"])
    assert first["uuid"] == second["uuid"]
    assert first["version"].startswith("3.")
    assert isinstance(first["features"], list)


def test_uuid_survives_a_restart(make_client, tmp_path):
    first = make_client(data_dir=str(tmp_path)).get("/").json()["uuid"]
    again = make_client(data_dir=str(tmp_path)).get("/").json()["uuid"]
    assert first == again


def test_every_answer_has_server_and_date_headers(client):
    response = client.get("/")
    assert response.header("server").startswith("CouchDB/")
    assert response.header("date")
    assert response.header("cache-control") == "must-revalidate"


def test_head_welcome_has_no_body(client):
    response = client.head("/")
    assert response.status == 200
    assert response.body == b""


def test_up(client):
    assert expect_json(client.get("/_up"))["status"] == "ok"


@pytest.mark.parametrize("count", [None, "1", "7", "1000"])
def test_uuids(client, count):
    target = "/_uuids" if count is None else f"/_uuids?count={count}"
    response = client.get(target)
    uuids = expect_json(response)["uuids"]
    assert len(uuids) == int(count or 1)
    assert len(set(uuids)) == len(uuids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", u) for u in uuids)
    # couch_httpd_misc_handlers:handle_uuids_req/1 sends cache-busting headers.
    assert response.header("pragma") == "no-cache"
    assert response.header("expires")


def test_too_many_uuids_is_400(client):
    # couch_httpd_misc_handlers:handle_uuids_req/1: N > max_count -> bad_request "count parameter too large"
    expect_error(client.get("/_uuids?count=1001"), 400, "bad_request", "count parameter too large")


@pytest.mark.parametrize("count", ["-1", "abc", "1.5", "[1]"])
def test_bad_uuid_count_is_400(client, count):
    expect_error(client.get(f"/_uuids?count={count}"), 400, "bad_request")


def test_all_dbs(client):
    for name in ("b", "a", "c/d"):
        assert client.put("/" + name.replace("/", "%2F")).status == 201
    assert expect_json(client.get("/_all_dbs")) == ["a", "b", "c/d"]
    assert client.get('/_all_dbs?descending=true').json() == ["c/d", "b", "a"]
    assert client.get('/_all_dbs?startkey="b"').json() == ["b", "c/d"]
    assert client.get('/_all_dbs?start_key="a"&end_key="b"').json() == ["a", "b"]
    assert client.get("/_all_dbs?limit=1&skip=1").json() == ["b"]


def test_dbs_info(client, db):
    rows = expect_json(client.post("/_dbs_info", json={"keys": [db, "nope"]}))
    assert rows[0]["key"] == db and rows[0]["info"]["db_name"] == db
    assert rows[1] == {"key": "nope", "error": "not_found"}
    expect_error(client.post("/_dbs_info", json={}), 400, "bad_request", "`keys` member must exist.")


def test_active_tasks_is_a_list(client):
    assert expect_json(client.get("/_active_tasks")) == []


@pytest.mark.parametrize("method, target, allowed", [
    ("POST", "/", "GET,HEAD"),
    ("DELETE", "/_up", "GET,HEAD"),
    ("POST", "/_uuids", "GET,HEAD"),
    ("PUT", "/_all_dbs", "GET,HEAD"),
    ("PUT", "/_session", "GET,HEAD,POST,DELETE"),
])
def test_wrong_method_is_405(client, method, target, allowed):
    # chttpd:send_method_not_allowed/2: {"error":"method_not_allowed","reason":"Only GET,HEAD allowed"}
    body = expect_error(client.request(method, target), 405, "method_not_allowed")
    assert body["reason"] == f"Only {allowed} allowed"


def test_unknown_method_is_405_or_404_json(client, db):
    response = client.request("PATCH", f"/{db}")
    expect_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("query, error, reason", [
    ("startkey=nojson", "bad_request", "invalid UTF-8 JSON"),
    ("limit=-1", "query_parse_error", 'Invalid value for positive integer: "-1"'),
    ("skip=x", "query_parse_error", 'Invalid value for integer: "x"'),
    ("descending=maybe", "query_parse_error", 'Invalid boolean parameter: "maybe"'),
])
def test_bad_all_dbs_parameters_are_400(client, query, error, reason):
    # CouchDB 3.4.3 reads _all_dbs parameters as _all_docs ones (couch_mrview_http:parse_params/2).
    expect_error(client.get("/_all_dbs?" + query), 400, error, reason)


def test_all_dbs_bounds_as_couchdb_reads_them(client):
    for name in ("a", "b", "c"):
        client.put("/" + name)
    # CouchDB 3.4.3: a bound that is no string sorts before every name; inclusive_end applies.
    assert client.get("/_all_dbs?startkey=1").json() == ["a", "b", "c"]
    assert client.get("/_all_dbs?end_key=[1]").json() == []
    assert client.get('/_all_dbs?endkey="b"&inclusive_end=false').json() == ["a"]
    assert client.get('/_all_dbs?descending=true&endkey="b"&inclusive_end=false').json() == ["c"]


def test_all_dbs_and_dbs_info_etag(client, db):
    # CouchDB 3.4.3 tags the list of databases and answers 304 to a client that has it; GET /_dbs_info
    # lists every database with its info, with the same parameters as _all_dbs.
    response = client.get("/_all_dbs")
    etag = response.header("etag")
    assert etag and client.get("/_all_dbs", headers={"If-None-Match": etag}).status == 304
    rows = expect_json(client.get(f'/_dbs_info?start_key="{db}"&end_key="{db}"'))
    assert [row["key"] for row in rows] == [db] and rows[0]["info"]["db_name"] == db
    client.put("/zz")
    assert client.get("/_all_dbs", headers={"If-None-Match": etag}).status == 200


def test_uuids_cache_headers_and_count_reasons(client):
    # CouchDB 3.4.3 (couch_httpd_misc_handlers:handle_uuids_req/1).
    response = client.get("/_uuids?count=0")
    assert expect_json(response) == {"uuids": []}
    assert response.header("cache-control") == "no-cache"
    assert response.header("expires") == "Mon, 01 Jan 1990 00:00:00 GMT"
    assert response.header("etag")
    for count in ("-1", "abc"):
        expect_error(client.get(f"/_uuids?count={count}"), 400, "bad_request",
                     "count must be a positive integer")
