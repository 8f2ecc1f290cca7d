"""Requests and responses (``api/messages.py``): query parsing without HTTP, and body handling through
the app: malformed JSON, content types, size limits, streaming."""

import asyncio
import re

import pytest

from browsercouch.api.messages import (
    MAX_JSON_DEPTH,
    Query,
    Request,
    Response,
    dumps,
    etag_matches,
    loads,
    opaque_etag,
)
from browsercouch.errors import BadRequest, TooLarge

from .util import expect_error

# -- Query, pure ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    (b"flag=true", True), (b"flag=false", False), (b"flag=", True), (b"", None)])
def test_query_bool(raw, expected):
    assert Query(raw).bool("flag", None) == expected


@pytest.mark.parametrize("raw", [b"flag=1", b"flag=TRUE", b"flag=yes"])
def test_query_bool_refuses_others(raw):
    with pytest.raises(BadRequest):
        Query(raw).bool("flag")


def test_query_int():
    assert Query(b"n=5").int("n") == 5
    assert Query(b"").int("n", 7) == 7
    for raw in (b"n=-1", b"n=x", b"n=1.5", b"n="):
        with pytest.raises(BadRequest):
            Query(raw).int("n")


def test_query_json():
    assert Query(b'k=%5B1%2C%22a%22%5D').json("k") == [1, "a"]
    assert Query(b'k="x"').json("k") == "x"
    # CouchDB 3.4.3 gives every JSON parameter that does not parse the same reason.
    with pytest.raises(BadRequest, match="^invalid UTF-8 JSON$"):
        Query(b"k=x").json("k")


def test_opaque_etag_has_couchdb_form():
    # chttpd:make_etag/1: an md5 in upper-case base 36, quoted; the same state, the same tag.
    etag = opaque_etag("db", 3)
    assert re.fullmatch(r'"[0-9A-Z]{1,25}"', etag) and etag == opaque_etag("db", 3)
    assert etag != opaque_etag("db", 4)


def test_etag_matches_any_of_a_list():
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [
        (b"if-none-match", b'"A", "B"')]}, None)
    assert etag_matches(request, '"B"') and not etag_matches(request, '"C"')


@pytest.mark.parametrize("status, headers, expected", [
    (200, [], "must-revalidate"),
    (304, [], None),
    (200, [("Cache-Control", "no-cache")], "no-cache"),
])
def test_cache_control(status, headers, expected):
    # CouchDB 3.4.3 sends must-revalidate with its answers, nothing with a 304, and its own value where
    # an answer says (no-cache for _uuids and event streams).
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(Response(status, b"", headers).send(send))
    values = [v.decode() for k, v in sent[0]["headers"] if k.lower() == b"cache-control"]
    assert values == ([] if expected is None else [expected])


def test_query_survives_bytes_that_are_not_utf8():
    assert Query(b"k=%ff%fe").get("k") is not None


def test_dumps_is_compact_utf8_with_newline():
    assert dumps({"a": "é", "b": [1]}) == '{"a":"é","b":[1]}\n'.encode()


def _request(body_chunks, headers=(), max_request_size=100):
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
                for i, chunk in enumerate(body_chunks)]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/db/_bulk_docs", "raw_path": b"/db/_bulk_docs",
             "query_string": b"", "headers": list(headers)}
    return Request(scope, receive, max_request_size=max_request_size)


def test_body_chunks_are_joined():
    assert asyncio.run(_request([b"ab", b"", b"cd"]).body()) == b"abcd"


def test_body_limit_counts_bytes_as_they_come():
    with pytest.raises(TooLarge):
        asyncio.run(_request([b"x" * 60, b"x" * 60]).body())


def test_body_limit_trusts_a_large_content_length():
    with pytest.raises(TooLarge):
        asyncio.run(_request([b""], headers=[(b"content-length", b"1000")]).body())


def test_path_segments_are_percent_decoded_after_splitting():
    scope = {"type": "http", "method": "GET", "path": "/a/b/c", "raw_path": b"/a%2Fb/c%20d",
             "query_string": b"", "headers": []}
    assert Request(scope, None).segments == ["a/b", "c d"]


# -- through the app --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b"\xff", b"{'a':1}", b"[1,]", b'{"a":1}garbage', b"\xef\xbb\xbf{}"])
def test_malformed_json_is_400(client, db, body):
    response = client.post(f"/{db}/_bulk_docs", body=body, headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


@pytest.mark.parametrize("body", [b"NaN", b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}'])
def test_non_standard_json_numbers_are_400(client, db, body):
    # CouchDB's jiffy refuses NaN and Infinity; storing them would give clients JSON they cannot parse.
    response = client.put(f"/{db}/doc", body=body, headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


def test_huge_numbers_round_trip(client, db):
    body = b'{"big": 123456789012345678901234567890, "small": 1e-300, "neg": -0.0}'
    assert client.put(f"/{db}/doc", body=body, headers={"Content-Type": "application/json"}).status == 201
    assert client.get(f"/{db}/doc").json()["big"] == 123456789012345678901234567890


def test_deeply_nested_json_is_a_clean_error_or_ok(client, db):
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.put(f"/{db}/doc", body=b'{"a":' + body + b"}",
                          headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")
    assert client.get("/").status == 200


def test_nesting_up_to_the_limit_is_stored_and_read_back(client, db):
    depth = MAX_JSON_DEPTH - 1
    body = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    assert client.put(f"/{db}/doc", body=body, headers={"Content-Type": "application/json"}).status == 201
    assert client.get(f"/{db}/doc").status == 200
    rows = client.get(f"/{db}/_changes?include_docs=true").json()["results"]
    assert rows[0]["doc"]["_id"] == "doc"
    body = b'{"a":' + b"[" * (depth + 1) + b"]" * (depth + 1) + b"}"
    response = client.put(f"/{db}/doc2", body=body, headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


@pytest.mark.parametrize("text", ['"\\ud800"', '{"a":"x\\udfff"}', '["\\uDBFF"]', '{"\\ud800":1}',
                                  "1e400", "-1e999", "[NaN]", "1" * 5000, "[" * 300 + "]" * 300])
def test_loads_refuses_what_clients_could_not_read_back(text):
    with pytest.raises(BadRequest):
        loads(text.encode())


@pytest.mark.parametrize("text, value", [
    ('"\\ud83d\\ude00"', "\U0001F600"), ('"\\\\ud800"', "\\ud800"), ("1e300", 1e300), ("-0.0", -0.0),
    ("12345678901234567890", 12345678901234567890)])
def test_loads_accepts_valid_json(text, value):
    assert loads(text.encode()) == value


def test_lone_surrogates_are_400(client, db):
    response = client.put(f"/{db}/doc", body=b'{"a":"\\ud800"}', headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


def test_head_of_a_streamed_answer_has_no_body(client, db):
    response = client.head(f"/{db}/_all_docs")
    assert response.status == 200 and response.body == b""
    response = client.head(f"/{db}/_changes")
    assert response.status == 200 and response.body == b""


def test_keep_alive_after_an_error(client, db):
    async def scenario():
        conn = await client.connect()
        statuses = []
        for target, body in [("/nope", None), (f"/{db}/x", b"{bad"), (f"/{db}/y", b"{}"), ("/", None)]:
            method = "GET" if body is None else "PUT"
            response = await conn.request(method, target, {"Content-Type": "application/json"}, body)
            statuses.append(response.status)
        assert not conn.closed
        await conn.close()
        return statuses

    assert client.run(scenario()) == [404, 400, 201, 200]
