"""``replicator.remote`` and ``replicator.spec``: credentials, error mapping, the ``_bulk_get`` fallback
remembered per instance, and turning ``_replicate`` sources and targets into endpoints."""

import asyncio
import base64
import json

import pytest
from helpers import async_test

from browsercouch.api import CouchApp
from browsercouch.errors import BadRequest, NotFound, Unauthorized
from browsercouch.http import app_client
from browsercouch.replicator import (
    BadPeerResponse,
    LocalEndpoint,
    RemoteEndpoint,
    Replication,
    ReplicationOptions,
    open_endpoint,
    replicate,
)
from browsercouch.store import Couch

from .peers import Counting, open_peer, snapshot


class Recorder:
    """An ASGI app that records request headers and answers a fixed JSON body."""

    def __init__(self, status=200, body=b"{}"):
        self.status, self.body, self.seen = status, body, []

    async def __call__(self, scope, receive, send):
        self.seen.append((scope["method"], scope["path"], dict(scope["headers"])))
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.body})


@async_test
async def test_credentials_from_the_url_become_basic_auth_and_are_masked():
    recorder = Recorder(body=b'{"db_name": "db"}')
    client = app_client(recorder)
    endpoint = RemoteEndpoint("http://al%40ice:p%3Ass@127.0.0.1:5984/prefix/db%2Fx/", client,
                              headers={"X-Extra": "1"})
    assert endpoint.name == "http://al%40ice:*****@127.0.0.1:5984/prefix/db%2Fx"
    assert endpoint.url == "http://127.0.0.1:5984/prefix/db%2Fx" and endpoint.db_name == "db/x"
    assert "p:ss" not in repr(endpoint)
    await endpoint.info()
    method, path, headers = recorder.seen[0]
    assert (method, path) == ("GET", "/prefix/db/x")
    assert headers[b"authorization"] == b"Basic " + base64.b64encode(b"al@ice:p:ss")
    assert headers[b"x-extra"] == b"1" and headers[b"accept"] == b"application/json"
    override = RemoteEndpoint("http://a:b@127.0.0.1:5984/db", client, username="c", password="d")
    await override.info()
    assert recorder.seen[1][2][b"authorization"] == b"Basic " + base64.b64encode(b"c:d")
    await client.close()


@pytest.mark.parametrize("status, body, error", [
    (404, b'{"error":"not_found","reason":"Database does not exist."}', NotFound),
    (401, b'{"error":"unauthorized","reason":"Name or password is incorrect."}', Unauthorized),
    (200, b'{"db_name": ', BadPeerResponse),
    (200, b"<html>proxy</html>", BadPeerResponse),
    (500, b"Internal Server Error", Exception),
])
@async_test
async def test_answers_map_to_named_errors_tagged_with_the_peer(status, body, error):
    client = app_client(Recorder(status, body))
    endpoint = RemoteEndpoint("http://u:secret@127.0.0.1:5984/db", client)
    with pytest.raises(error) as caught:
        await endpoint.info()
    assert caught.value.peer == endpoint.name and "secret" not in str(caught.value)
    if status == 500:
        assert caught.value.status == 500
    await client.close()


class NoBulkGet:
    """A CouchDB 1.x-like server: ``POST /db/_bulk_get`` is 404 ``not_found``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("/_bulk_get"):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"error":"not_found","reason":"missing"}'})
            return
        await self.app(scope, receive, send)


@async_test
async def test_without_bulk_get_documents_come_one_by_one_and_the_instance_remembers():
    wrappers = []

    def wrap(app):
        wrappers.append(Counting(NoBulkGet(app)))
        return wrappers[-1]

    async with open_peer("pipe", wrap=wrap) as src, open_peer("local") as tgt:
        db = src.db("source")
        for i in range(250):
            doc = {"_id": f"d{i:03}", "n": i}
            if i % 50 == 0:
                doc["_attachments"] = {"a.txt": {"content_type": "text/plain", "data": "aGk="}}
            db.put(doc)
        endpoint = src.endpoint("source")
        await replicate(endpoint, tgt.endpoint("target"), ReplicationOptions(create_target=True))
        assert snapshot(tgt.db("target")) == snapshot(db)
        counting = wrappers[0]
        assert len(counting.paths("/_bulk_get")) == 1 and endpoint.has_bulk_get is False
        assert len([r for r in counting.requests if r[0] == "GET" and "/source/d" in r[1]]) == 250
        # Another endpoint to the same server asks again: the fallback is not a module global.
        fresh = src.endpoint("source")
        assert fresh.has_bulk_get is None
        db.put({"_id": "late"})
        await replicate(fresh, tgt.endpoint("target"))
        assert len(counting.paths("/_bulk_get")) == 2


@async_test
async def test_a_real_bulk_get_is_remembered_too():
    async with open_peer("pipe") as src:
        src.db("source").put({"_id": "a"})
        endpoint = src.endpoint("source")
        rev = src.db("source").get("a")["_rev"]
        results = await endpoint.bulk_get([{"id": "a", "rev": rev}, {"id": "nope", "rev": "1-x"}])
        assert endpoint.has_bulk_get is True
        assert results[0]["docs"][0]["ok"]["_revisions"]["start"] == 1
        assert "error" in results[1]["docs"][0]


@async_test
async def test_attachment_names_and_ids_are_escaped():
    async with open_peer("pipe") as src:
        db = src.db("source")
        rev = db.put({"_id": "a b/c", "_attachments": {
            "dir/file ü.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}})["rev"]
        assert await src.endpoint("source").get_attachment("a b/c", "dir/file ü.txt", rev) == b"hello"
        with pytest.raises(NotFound):
            await src.endpoint("source").get_attachment("a b/c", "missing", rev)


@async_test
async def test_local_and_remote_endpoints_of_one_database_share_an_id():
    async with open_peer("pipe") as peer:
        peer.db("db")
        remote, local = peer.endpoint("db"), LocalEndpoint(peer.couch, "db")
        assert await remote.id() == await local.id() == f"{peer.couch.uuid}/db"


def test_open_endpoint_accepts_urls_names_and_objects():
    couch, client = Couch(None), app_client(CouchApp(Couch(None)))
    assert isinstance(open_endpoint("db", couch=couch), LocalEndpoint)
    remote = open_endpoint("https://u:p@127.0.0.1:6984/db", client=client)
    assert remote.name == "https://u:*****@127.0.0.1:6984/db"
    spec = {"url": "http://127.0.0.1:5984/db", "headers": {"X-A": "1"},
            "auth": {"basic": {"username": "u", "password": "p"}}}
    remote = open_endpoint(spec, client=client)
    assert remote.name == "http://u:*****@127.0.0.1:5984/db"
    assert remote._headers["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    bad = [("db", {}), ("http://u:p@127.0.0.1/db", {"couch": couch}), (42, {"couch": couch}),
           ({"url": 1}, {"client": client}), ("http://127.0.0.1:5984/", {"client": client})]
    for spec, kwargs in bad:
        with pytest.raises(BadRequest) as caught:
            open_endpoint(spec, **kwargs)
        assert "p@" not in json.dumps(caught.value.reason)


class Without:
    """Middleware: requests to a path ending in ``suffix`` get 404, as from a server without the route;
    with ``strip_longpoll`` the ``feed=longpoll`` parameter is dropped instead (a server ignoring it)."""

    def __init__(self, app, suffix, strip_longpoll=False):
        self.app, self.suffix, self.strip_longpoll, self.hits = app, suffix, strip_longpoll, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].endswith(self.suffix):
            return await self.app(scope, receive, send)
        self.hits += 1
        if self.strip_longpoll:
            query = scope["query_string"].replace(b"feed=longpoll", b"feed=normal")
            return await self.app({**scope, "query_string": query}, receive, send)
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"error":"not_found","reason":"missing"}'})


@async_test
async def test_a_target_without_ensure_full_commit_is_asked_once():
    wrappers = []
    async with open_peer("local") as src, open_peer("pipe", wrap=lambda app: wrappers.append(
            Without(app, "/_ensure_full_commit")) or wrappers[0]) as tgt:
        src.db("source").update_docs([{"_id": f"d{i:03}"} for i in range(350)])
        target = tgt.endpoint("target")
        await replicate(src.endpoint("source"), target, ReplicationOptions(create_target=True))
        assert snapshot(tgt.db("target")) == snapshot(src.db("source"))
        assert wrappers[0].hits == 1 and target.has_ensure_full_commit is False


@async_test
async def test_a_peer_ignoring_longpoll_is_not_hammered():
    wrappers = []
    async with open_peer("pipe", wrap=lambda app: wrappers.append(
            Without(app, "/_changes", strip_longpoll=True)) or wrappers[0]) as src, open_peer("local") as tgt:
        src.db("source").put({"_id": "a"})
        job = Replication(src.endpoint("source"), tgt.endpoint("target"),
                          ReplicationOptions(continuous=True, create_target=True)).start()
        await asyncio.sleep(1.5)
        job.cancel()
        await asyncio.gather(job.wait(), return_exceptions=True)
        assert tgt.db("target").get("a") and 1 <= wrappers[0].hits <= 3


@pytest.mark.parametrize("call, body", [
    (lambda e: e.changes(0, limit=10), b'{"results": [{"id": 1, "changes": []}], "last_seq": 1}'),
    (lambda e: e.changes(0, limit=10), b'{"results": [{"id": "a", "changes": [{"rev": 5}]}], "last_seq": 1}'),
    (lambda e: e.changes(0, limit=10), b'{"results": []}'),
    (lambda e: e.revs_diff({"a": ["1-x"]}), b'{"a": {"missing": "1-x"}}'),
    (lambda e: e.bulk_get([{"id": "a", "rev": "1-x"}]), b'{"results": [{"id": "a", "docs": {}}]}'),
    (lambda e: e.bulk_docs([]), b'{"ok": true}'),
], ids=["changes-id", "changes-rev", "changes-last_seq", "revs_diff", "bulk_get", "bulk_docs"])
@async_test
async def test_json_of_the_wrong_shape_is_a_bad_peer_response(call, body):
    client = app_client(Recorder(200, body))
    with pytest.raises(BadPeerResponse):
        await call(RemoteEndpoint("http://127.0.0.1:5984/db", client))
    await client.close()
