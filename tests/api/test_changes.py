"""``_changes`` (``api/changes.py``): normal, longpoll, continuous and eventsource feeds, filters."""

import asyncio
import json
import time

import pytest

from .util import expect_error, expect_json, read_lines


def _seq(value):
    return int(str(value).split("-")[0])


@pytest.fixture
def three(client, db):
    """``db`` with documents a, b, c written in that order, then ``a`` updated (so: b, c, a)."""
    revs = {r["id"]: r["rev"] for r in client.post(
        f"/{db}/_bulk_docs", json={"docs": [{"_id": "a", "t": 1}, {"_id": "b", "t": 2}]}).json()}
    client.put(f"/{db}/c", json={"t": 3})
    client.put(f"/{db}/a", json={"_rev": revs["a"], "t": 4})
    return db


def _ids(body):
    return [row["id"] for row in body["results"]]


def test_normal(client, three):
    body = expect_json(client.get(f"/{three}/_changes"))
    assert _ids(body) == ["b", "c", "a"]
    assert body["pending"] == 0
    assert _seq(body["last_seq"]) == _seq(body["results"][-1]["seq"])
    row = body["results"][-1]
    assert row["changes"] == [{"rev": client.get(f"/{three}/a").json()["_rev"]}]
    assert "doc" not in row


def test_since_limit_and_pending(client, three):
    body = client.get(f"/{three}/_changes?limit=1").json()
    assert _ids(body) == ["b"] and body["pending"] == 2
    body = client.get(f"/{three}/_changes?since={body['last_seq']}").json()
    assert _ids(body) == ["c", "a"]
    since_now = client.get(f"/{three}/_changes?since=now").json()
    assert since_now["results"] == [] and _seq(since_now["last_seq"]) == _seq(body["last_seq"])


def test_descending(client, three):
    assert _ids(client.get(f"/{three}/_changes?descending=true").json()) == ["a", "c", "b"]
    assert _ids(client.get(f"/{three}/_changes?descending=true&limit=1").json()) == ["a"]


@pytest.mark.parametrize("since, expected", [("", b'"id":"a"'), ("&since=1", b'"id":"a"')],
                         ids=["from the newest", "since ignored"])
@pytest.mark.parametrize("feed", ["longpoll", "continuous", "eventsource"])
def test_waiting_feeds_make_one_pass_when_descending(client, three, feed, since, expected):
    """Newest first there is no next change to wait for: one pass, at once, even with a heartbeat (a
    feed that waited on the oldest row it had sent would spin, seeing newer changes forever)."""
    started = time.monotonic()
    response = client.get(f"/{three}/_changes?feed={feed}&descending=true&heartbeat=1000{since}")
    assert response.status == 200 and time.monotonic() - started < 5
    assert expected in response.body


@pytest.mark.parametrize("since", ["0", "2", "now", "garbage"])
def test_descending_ignores_since(client, three, since):
    # CouchDB 3.4.3 (fabric_view_changes:get_start_seq/2) starts a descending feed at the newest change
    # and does not read `since` at all.
    body = expect_json(client.get(f"/{three}/_changes?descending=true&since={since}"))
    assert _ids(body) == ["a", "c", "b"] and body["pending"] == 0


def test_include_docs_and_deleted(client, three):
    rev = client.get(f"/{three}/b").json()["_rev"]
    client.delete(f"/{three}/b?rev={rev}")
    rows = client.get(f"/{three}/_changes?include_docs=true").json()["results"]
    by_id = {row["id"]: row for row in rows}
    assert by_id["a"]["doc"]["t"] == 4
    assert by_id["b"]["deleted"] is True and by_id["b"]["doc"]["_deleted"] is True
    assert "deleted" not in by_id["a"]


def test_style_all_docs_and_conflicts(client, db):
    rev1 = client.put(f"/{db}/d", json={}).json()["rev"]
    h = rev1[2:]
    docs = [{"_id": "d", "_rev": f"2-{x * 32}", "_revisions": {"start": 2, "ids": [x * 32, h]}} for x in "ab"]
    client.post(f"/{db}/_bulk_docs", json={"docs": docs, "new_edits": False})
    row = client.get(f"/{db}/_changes?style=all_docs").json()["results"][0]
    assert sorted(c["rev"] for c in row["changes"]) == ["2-" + "a" * 32, "2-" + "b" * 32]
    row = client.get(f"/{db}/_changes").json()["results"][0]
    assert row["changes"] == [{"rev": "2-" + "b" * 32}]
    row = client.get(f"/{db}/_changes?include_docs=true&conflicts=true").json()["results"][0]
    assert row["doc"]["_conflicts"] == ["2-" + "a" * 32]


def test_doc_ids_filter_get_and_post(client, three):
    body = client.get(f'/{three}/_changes?filter=_doc_ids&doc_ids=["a","c","zz"]').json()
    assert _ids(body) == ["c", "a"]
    body = client.post(f"/{three}/_changes?filter=_doc_ids", json={"doc_ids": ["b"]}).json()
    assert _ids(body) == ["b"]
    expect_error(client.post(f"/{three}/_changes?filter=_doc_ids", json={"doc_ids": "b"}), 400, "bad_request")
    expect_error(client.get(f"/{three}/_changes?filter=_doc_ids"), 400, "bad_request")


def test_doc_ids_filter_with_limit_reports_last_seq(client, three):
    body = client.post(f"/{three}/_changes?filter=_doc_ids&limit=1", json={"doc_ids": ["c", "a"]}).json()
    assert _ids(body) == ["c"]
    body = client.post(f"/{three}/_changes?filter=_doc_ids&since={body['last_seq']}",
                       json={"doc_ids": ["c", "a"]}).json()
    assert _ids(body) == ["a"]


@pytest.mark.parametrize("doc_ids", [[{}], [["a"]], [1], [None], ["a", 5]])
def test_doc_ids_must_be_strings(client, three, doc_ids):
    # couch_changes checks every element: "`doc_ids` filter parameter is not a list of doc ids."
    expect_error(client.post(f"/{three}/_changes?filter=_doc_ids", json={"doc_ids": doc_ids}), 400,
                 "bad_request", "`doc_ids` filter parameter is not a list of doc ids.")


def test_huge_timeouts_and_heartbeats_are_fine(client, three):
    for query in ("feed=longpoll&timeout=" + "9" * 400, "feed=longpoll&heartbeat=" + "9" * 400,
                  "feed=continuous&limit=1&timeout=99999999999999999999"):
        assert client.get(f"/{three}/_changes?{query}").status == 200


def test_opaque_couchdb_sequences(client, three):
    # CouchDB 3.x sequences look like "3-g1AAAA..."; the number part is what we can use.
    body = client.get(f"/{three}/_changes?since=2-g1AAAAB1eJzLYWBgYMpgTmHgz8tPSTV0MDQy").json()
    assert _ids(body) == ["c", "a"]


def test_selector_filter(client, three):
    body = client.post(f"/{three}/_changes?filter=_selector", json={"selector": {"t": {"$gt": 2}}}).json()
    assert _ids(body) == ["c", "a"]
    # CouchDB 3.4.3 answers these (couch_changes:get_selector_and_fields/1, check_selector/1).
    expect_error(client.post(f"/{three}/_changes?filter=_selector", json={}), 400, "bad_request",
                 "Selector error: expected a JSON object")
    response = client.post(f"/{three}/_changes?filter=_selector", json={"selector": []})
    expect_error(response, 400, "bad_request", "Selector error: expected a JSON object")
    expect_error(client.get(f"/{three}/_changes?filter=_selector"), 400, "bad_request",
                 "Selector must be specified in POST payload")


def test_design_filter(client, three):
    client.put(f"/{three}/_design/x", json={})
    assert _ids(client.get(f"/{three}/_changes?filter=_design").json()) == ["_design/x"]


@pytest.mark.parametrize("name, status, error, reason", [
    ("app/by_type", 404, "not_found", "missing"),
    ("f/nothing", 404, "not_found", "missing json key: nothing"),
    ("nothing", 400, "bad_request", "`filter` must be of the form `designname/filtername`"),
    ("a/b/c", 400, "bad_request", "`filter` must be of the form `designname/filtername`"),
    ("_nope", 400, "bad_request", "unknown builtin filter name"),
])
def test_filters_that_cannot_run(client, three, name, status, error, reason):
    # CouchDB 3.4.3 (couch_changes:configure_filter/4) checks the name and the design document first.
    client.put(f"/{three}/_design/f", json={"filters": {"by_t": "function(doc) { return true; }"}})
    expect_error(client.get(f"/{three}/_changes?filter={name}"), status, error, reason)


def test_javascript_filters_need_an_engine(client, three):
    # The app here has no JavaScript engine (tests/api/test_views.py runs filters with one).
    client.put(f"/{three}/_design/f", json={"filters": {"by_t": "function(doc) { return true; }"}})
    expect_error(client.get(f"/{three}/_changes?filter=f/by_t"), 501, "not_implemented")


@pytest.mark.parametrize("query", ["feed=bogus", "since=abc", "limit=x", "timeout=x", "heartbeat=x",
                                   "heartbeat=-5", "heartbeat=0", "heartbeat=false",
                                   "since=99999999999999999999999", "since=%C2%B2", "heartbeat=%C2%B2",
                                   "since=-1", "timeout=" + "9" * 5000, "heartbeat=" + "9" * 5000,
                                   "since=" + "9" * 5000, "seq_interval=0", "seq_interval=x"])
def test_bad_parameters_are_400(client, three, query):
    expect_error(client.get(f"/{three}/_changes?{query}"), 400, "bad_request")


@pytest.mark.parametrize("query, reason", [
    ("since=abc", "Malformed sequence supplied in 'since' parameter."),
    ("heartbeat=x", "Invalid heartbeat value. Expecting a positive integer value (in milliseconds)."),
    ("heartbeat=0", "The heartbeat value should be a positive integer (in milliseconds)."),
    ("seq_interval=0", "invalid_seq_interval"),
])
def test_bad_parameter_reasons(client, three, query, reason):
    # CouchDB 3.4.3 answers these (chttpd_db:parse_changes_query/1).
    expect_error(client.get(f"/{three}/_changes?{query}"), 400, "bad_request", reason)


@pytest.mark.parametrize("query, ids", [
    ("descending=2", ["b", "c", "a"]),
    ("descending=", ["b", "c", "a"]),
    ("include_docs=maybe", ["b", "c", "a"]),
    ("limit=-1", ["b", "c", "a"]),
    ("seq_interval=5", ["b", "c", "a"]),
])
def test_flags_other_than_true_are_off(client, three, query, ids):
    # CouchDB 3.4.3 (chttpd_db:parse_changes_query/1) reads only "true" as a flag being on, never answers
    # 400 for another value, and takes a negative limit as none.
    body = expect_json(client.get(f"/{three}/_changes?{query}"))
    assert _ids(body) == ids and all("doc" not in row for row in body["results"])


def test_live_is_continuous(client, three):
    # CouchDB 3.4.3: feed=live is sugar for continuous.
    response = client.get(f"/{three}/_changes?feed=live&timeout=10")
    lines = [json.loads(line) for line in response.body.splitlines() if line.strip()]
    assert [row.get("id") for row in lines] == ["b", "c", "a", None]


def test_normal_feed_etag(client, three):
    # CouchDB 3.4.3 gives a normal feed an ETag of the database's state and answers 304 to it.
    response = client.get(f"/{three}/_changes")
    etag = response.header("etag")
    assert etag and etag.startswith('"') and etag.isupper()
    assert client.get(f"/{three}/_changes?limit=1").header("etag") == etag
    not_modified = client.get(f"/{three}/_changes", headers={"If-None-Match": etag})
    assert not_modified.status == 304 and not_modified.body == b""
    assert not_modified.header("cache-control") is None
    client.put(f"/{three}/d", json={})
    assert client.get(f"/{three}/_changes", headers={"If-None-Match": etag}).status == 200
    assert client.get(f"/{three}/_changes?feed=longpoll").header("etag") is None


def test_pending_counts_what_the_feed_did_not_reach(client, three):
    # CouchDB 3.4.3 (fabric_rpc:changes/4): newest first, pending is what lies below the last row; a
    # continuous feed ends with the same count.
    body = client.get(f"/{three}/_changes?descending=true&limit=1").json()
    assert _ids(body) == ["a"] and body["pending"] == 2
    assert client.get(f"/{three}/_changes?descending=true").json()["pending"] == 0
    response = client.get(f"/{three}/_changes?feed=continuous&limit=1")
    assert json.loads(response.body.splitlines()[-1])["pending"] == 2


def test_pending_of_filters_that_visit_only_matching_documents(client, three):
    # CouchDB 3.4.3 looks up _doc_ids (up to 100) and design documents instead of reading every change,
    # and counts as pending every change since `since` it did not send.
    body = client.get(f'/{three}/_changes?filter=_doc_ids&doc_ids=["a","zz"]').json()
    assert _ids(body) == ["a"] and body["pending"] == 2
    assert client.get(f"/{three}/_changes?filter=_design").json()["pending"] == 3
    many = ["a"] + [f"x{n}" for n in range(100)]
    body = client.post(f"/{three}/_changes?filter=_doc_ids", json={"doc_ids": many}).json()
    assert _ids(body) == ["a"] and body["pending"] == 0
    response = client.get(f'/{three}/_changes?feed=continuous&filter=_doc_ids&doc_ids=["b"]&timeout=10')
    assert json.loads(response.body.splitlines()[-1])["pending"] == 2


@pytest.mark.parametrize("query, ids, last", [
    ('filter=_doc_ids&doc_ids=["b"]', ["b"], 2),
    ('filter=_doc_ids&doc_ids=["zz"]', [], 4),
    ("filter=_design", [], 4),
])
def test_descending_doc_ids_last_seq(client, three, query, ids, last):
    # CouchDB 3.4.3 walks only the matching documents here: last_seq is the last one sent, or the
    # newest change when none is.
    body = expect_json(client.get(f"/{three}/_changes?descending=true&{query}"))
    assert _ids(body) == ids and _seq(body["last_seq"]) == last


def test_longpoll_that_times_out_keeps_its_first_pending(client, three):
    # CouchDB 3.4.3: a filtered longpoll that waited in vain reports the pending count of its first pass.
    query = 'feed=longpoll&timeout=50&filter=_doc_ids&doc_ids=["zz"]'
    body = expect_json(client.get(f"/{three}/_changes?{query}"))
    assert body["results"] == [] and body["pending"] == 3


def test_limit_zero_reads_nothing(client, three):
    # CouchDB 3.4.3: last_seq stays where the feed starts (since, or the newest change when descending),
    # with a filter too.
    for query in ("limit=0", 'limit=0&filter=_doc_ids&doc_ids=["a"]', "limit=0&filter=_design"):
        body = expect_json(client.get(f"/{three}/_changes?since=1&{query}"))
        assert body["results"] == [] and _seq(body["last_seq"]) == 1
        body = expect_json(client.get(f"/{three}/_changes?descending=true&{query}"))
        assert body["results"] == [] and _seq(body["last_seq"]) == 4


def test_post_must_be_json(client, three):
    # CouchDB 3.4.3 checks the content type of a POST first; an empty JSON body is no body.
    response = client.post(f"/{three}/_changes", body=b"{}", headers={"Content-Type": "text/plain"})
    expect_error(response, 415, "bad_content_type")
    response = client.post(f"/{three}/_changes", body=b"", headers={"Content-Type": "application/json"})
    assert _ids(expect_json(response)) == ["b", "c", "a"]


@pytest.mark.parametrize("body", [b"[]", b"5", b"{", b'"x"'])
def test_bad_post_bodies_are_400(client, three, body):
    response = client.post(f"/{three}/_changes", body=body, headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


def test_longpoll_returns_at_once_when_there_are_changes(client, three):
    body = expect_json(client.get(f"/{three}/_changes?feed=longpoll"))
    assert _ids(body) == ["b", "c", "a"]


def test_longpoll_times_out_empty(client, three):
    body = expect_json(client.get(f"/{three}/_changes?feed=longpoll&since=now&timeout=100"))
    assert body["results"] == [] and _seq(body["last_seq"]) == 4


def test_longpoll_wakes_on_a_write(client, three):
    async def scenario():
        listener = await client.connect()
        poll = asyncio.ensure_future(client.arequest(
            "GET", f"/{three}/_changes?feed=longpoll&since=now&timeout=10000&heartbeat=200", conn=listener))
        await asyncio.sleep(0.3)
        assert not poll.done()
        await client.arequest("PUT", f"/{three}/new", json={})
        response = await asyncio.wait_for(poll, 5)
        await listener.close()
        return response

    response = client.run(scenario())
    # Heartbeats are blank lines before the JSON; the body must still parse.
    body = json.loads(response.body)
    assert _ids(body) == ["new"]
    assert response.body.startswith(b"\n")


def test_longpoll_filtered_waits_for_a_matching_change(client, three):
    async def scenario():
        listener = await client.connect()
        poll = asyncio.ensure_future(client.arequest(
            "POST", f"/{three}/_changes?feed=longpoll&since=now&timeout=10000&filter=_doc_ids",
            json={"doc_ids": ["wanted"]}, conn=listener))
        await client.arequest("PUT", f"/{three}/other", json={})
        await asyncio.sleep(0.2)
        assert not poll.done()
        await client.arequest("PUT", f"/{three}/wanted", json={})
        response = await asyncio.wait_for(poll, 5)
        await listener.close()
        return response

    assert _ids(json.loads(client.run(scenario()).body)) == ["wanted"]


def test_continuous(client, three):
    async def scenario():
        listener = await client.connect()
        async with listener.stream("GET", f"/{three}/_changes?feed=continuous&timeout=10000") as feed:
            assert feed.status == 200
            lines = await read_lines(feed, 3)
            await client.arequest("PUT", f"/{three}/live", json={})
            lines += await read_lines(feed, 1)
        return [json.loads(line) for line in lines if line.strip()]

    rows = client.run(scenario())
    assert [row["id"] for row in rows] == ["b", "c", "a", "live"]


def test_continuous_ends_with_last_seq(client, three):
    response = client.get(f"/{three}/_changes?feed=continuous&timeout=100")
    lines = [json.loads(line) for line in response.body.splitlines() if line.strip()]
    assert [row["id"] for row in lines[:-1]] == ["b", "c", "a"]
    assert _seq(lines[-1]["last_seq"]) == 4 and "pending" in lines[-1]


def test_continuous_limit(client, three):
    response = client.get(f"/{three}/_changes?feed=continuous&limit=2&timeout=10000")
    lines = [json.loads(line) for line in response.body.splitlines() if line.strip()]
    assert [row.get("id") for row in lines] == ["b", "c", None]


def test_continuous_heartbeat(client, three):
    async def scenario():
        listener = await client.connect()
        target = f"/{three}/_changes?feed=continuous&since=now&heartbeat=100&timeout=10000"
        async with listener.stream("GET", target) as feed:
            data = b""
            async with asyncio.timeout(5):
                async for chunk in feed.aiter_bytes():
                    data += chunk
                    if data.count(b"\n") >= 2:
                        break
        return data

    assert client.run(scenario()).strip() == b""


def test_eventsource(client, three):
    async def scenario():
        listener = await client.connect()
        async with listener.stream("GET", f"/{three}/_changes?feed=eventsource&timeout=10000") as feed:
            assert feed.header("content-type").startswith("text/event-stream")
            lines = await read_lines(feed, 6)
        return lines

    lines = [line for line in client.run(scenario()) if line.strip()]
    data = [json.loads(line[len(b"data: "):]) for line in lines if line.startswith(b"data: ")]
    ids = [line for line in lines if line.startswith(b"id: ")]
    assert [row["id"] for row in data] == ["b", "c", "a"]
    assert len(ids) == 3


def test_eventsource_headers_and_last_event_id(client, three):
    # CouchDB 3.4.3 sends an event stream with Cache-Control: no-cache, and a browser reconnecting with
    # Last-Event-ID resumes after it.
    since = client.get(f"/{three}/_changes?limit=2").json()["last_seq"]
    response = client.get(f"/{three}/_changes?feed=eventsource&timeout=10",
                          headers={"Last-Event-ID": str(since)})
    assert response.header("cache-control") == "no-cache"
    data = [json.loads(line[6:]) for line in response.body.splitlines() if line.startswith(b"data: ")]
    assert [row["id"] for row in data] == ["a"]


def test_feed_ends_when_the_database_is_deleted(client, three):
    async def scenario():
        listener = await client.connect()
        poll = asyncio.ensure_future(client.arequest(
            "GET", f"/{three}/_changes?feed=longpoll&since=now&timeout=10000", conn=listener))
        await asyncio.sleep(0.2)
        await client.arequest("DELETE", f"/{three}")
        response = await asyncio.wait_for(poll, 5)
        await listener.close()
        return response

    assert client.run(scenario()).status == 200
