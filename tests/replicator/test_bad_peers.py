"""Peers that misbehave: 500s, malformed JSON, connections dropped mid-body, refusals, and a peer that goes
away and comes back. The job retries, then fails with a clear message; nothing half-written lands on the
target, and the checkpoints cover exactly what was written, so a later healthy run resumes from there."""

import asyncio
import json

import pytest
from helpers import async_test

from browsercouch.api import CouchApp
from browsercouch.api.auth import hash_password
from browsercouch.http import tcp_client
from browsercouch.replicator import (
    LocalEndpoint,
    RemoteEndpoint,
    Replication,
    ReplicationError,
    ReplicationOptions,
    replicate,
)
from browsercouch.store import Couch

from .peers import FAST_BACKOFF, open_peer, serve_uvicorn, snapshot, wait_until

BATCH = 100


class Garble:
    """Middleware: the first ``after`` requests to a path ending in ``suffix`` pass; later ones fail as
    ``mode`` says: ``500`` (an error answer), ``malformed`` (the real answer cut in half, framed as
    complete), ``drop`` (the real answer's head and half its body, then the connection dies) or
    ``drop_request`` (half the request body is read, then the connection dies)."""

    def __init__(self, app, suffix, after, mode):
        self.app, self.suffix, self.after, self.mode = app, suffix, after, mode
        self.seen = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].endswith(self.suffix):
            return await self.app(scope, receive, send)
        self.seen += 1
        if self.seen <= self.after:
            return await self.app(scope, receive, send)
        if self.mode == "500":
            return await _send_json(send, 500, {"error": "internal_server_error", "reason": "kaboom"})
        if self.mode == "drop_request":
            await receive()
            raise ConnectionResetError("the peer vanished mid-request")
        head, chunks = {}, []

        async def keep(message):
            if message["type"] == "http.response.start":
                head.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        body = b"".join(chunks)
        half = body[: len(body) // 2]
        length = len(half) if self.mode == "malformed" else len(body)
        headers = [(k, v) for k, v in head["headers"] if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": head["status"],
                    "headers": headers + [(b"content-length", str(length).encode())]})
        if self.mode == "malformed":
            return await send({"type": "http.response.body", "body": half})
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise ConnectionResetError("the peer vanished mid-response")


async def _send_json(send, status, value):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(value).encode()})


def fill(db, count):
    for start in range(0, count, 250):
        db.update_docs([{"_id": f"d{i:04}", "n": i} for i in range(start, min(count, start + 250))])


def only(snap, ids):
    return {k: v for k, v in snap.items() if k in ids}


EXPECTED_ERROR = {"500": "500 internal_server_error: kaboom", "malformed": "502 bad_peer_response",
                  "drop": "503 peer_unavailable"}


@pytest.mark.parametrize("kind", ["pipe", "uvicorn"])
@pytest.mark.parametrize("mode", ["500", "malformed", "drop"])
@async_test
async def test_a_bad_source_fails_the_job_after_retries_and_writes_nothing_half(kind, mode):
    wrapped = []

    def wrap(app):
        wrapped.append(Garble(app, "/_bulk_get", 2, mode))
        return wrapped[0]

    async with open_peer(kind, wrap=wrap) as src, open_peer("local") as tgt:
        fill(src.db("source"), 5 * BATCH)
        options = ReplicationOptions(create_target=True, retries=1, backoff=FAST_BACKOFF, batches_in_flight=1)
        job = Replication(src.endpoint("source"), tgt.endpoint("target"), options).start()
        with pytest.raises(ReplicationError):
            await job.wait()
        assert job.state == "failed" and job.attempts == 2 and wrapped[0].seen == 4
        prefix = f"gave up after 2 failed attempts in a row; last: source {src.base_url}source: "
        assert job.error.startswith(prefix + EXPECTED_ERROR[mode])
        written = {f"d{i:04}" for i in range(2 * BATCH)}
        assert snapshot(tgt.db("target")) == only(snapshot(src.db("source")), written)
        checkpoint = tgt.db("target").get_local("_local/" + job.replication_id)
        assert checkpoint["source_last_seq"] == 2 * BATCH
        healthy = await replicate(LocalEndpoint(src.couch, "source"), tgt.endpoint("target"))
        assert healthy["history"][0]["docs_read"] == 3 * BATCH
        assert snapshot(tgt.db("target")) == snapshot(src.db("source"))


@pytest.mark.parametrize("kind", ["pipe", "uvicorn"])
@pytest.mark.parametrize("mode", ["500", "drop_request"])
@async_test
async def test_a_bad_target_fails_the_job_and_keeps_only_whole_batches(kind, mode):
    def wrap(app):
        return Garble(app, "/_bulk_docs", 1, mode)

    async with open_peer("local") as src, open_peer(kind, wrap=wrap) as tgt:
        fill(src.db("source"), 3 * BATCH)
        options = ReplicationOptions(create_target=True, retries=1, backoff=FAST_BACKOFF, batches_in_flight=1)
        job = Replication(src.endpoint("source"), tgt.endpoint("target"), options).start()
        with pytest.raises(ReplicationError):
            await job.wait()
        assert job.state == "failed" and job.error.startswith("gave up after 2 failed attempts")
        assert "target http://127.0.0.1:" in job.error
        first_batch = {f"d{i:04}" for i in range(BATCH)}
        assert snapshot(tgt.db("target")) == only(snapshot(src.db("source")), first_batch)


@pytest.mark.parametrize("kind", ["pipe", "uvicorn"])
@async_test
async def test_an_answer_of_500_everywhere(kind):
    async def broken(scope, receive, send):
        if scope["type"] == "http":
            await _send_json(send, 500, {"error": "internal_server_error", "reason": "disk on fire"})

    async with open_peer(kind, wrap=lambda app: broken) as src, open_peer("local") as tgt:
        options = ReplicationOptions(create_target=True, retries=3, backoff=FAST_BACKOFF)
        job = Replication(src.endpoint("source"), tgt.endpoint("target"), options).start()
        with pytest.raises(ReplicationError):
            await job.wait()
        assert job.attempts == 4 and "500 internal_server_error: disk on fire" in job.error
        assert not tgt.couch.exists("target")


@pytest.mark.parametrize("kind", ["pipe", "uvicorn"])
@async_test
async def test_wrong_credentials_stop_at_once_and_the_password_never_shows(kind):
    admins = {"admin": hash_password("right", iterations=1000)}
    async with open_peer("local") as src, open_peer(kind, admins=admins) as tgt:
        src.db("source").put({"_id": "x"})
        for password, ok in (("wrong-pass", False), ("right", True)):
            job = Replication(src.endpoint("source"), tgt.endpoint("target", user="admin", password=password),
                              ReplicationOptions(create_target=True, backoff=FAST_BACKOFF)).start()
            if ok:
                await job.wait()
                continue
            with pytest.raises(ReplicationError) as caught:
                await job.wait()
            assert job.attempts == 1 and caught.value.status == 401
            masked = tgt.base_url.replace("http://", "http://admin:*****@")
            assert job.error.startswith(f"target {masked}target refused access (401 unauthorized")
            assert "wrong-pass" not in job.error + repr(job.status()) + json.dumps(job.scheduler_job())
        assert tgt.db("target").get("x")


@pytest.mark.parametrize("kind", ["pipe", "uvicorn"])
@async_test
async def test_forbidden_stops_at_once(kind):
    async def forbidding(scope, receive, send):
        await _send_json(send, 403, {"error": "forbidden", "reason": "You are not allowed here."})

    async with open_peer(kind, wrap=lambda app: forbidding) as src, open_peer("local") as tgt:
        job = Replication(src.endpoint("source"), tgt.endpoint("target"),
                          ReplicationOptions(backoff=FAST_BACKOFF)).start()
        with pytest.raises(ReplicationError):
            await job.wait()
        assert job.attempts == 1 and "source" in job.error and "refused access (403 forbidden" in job.error


@pytest.mark.parametrize("away", ["source", "target"])
@pytest.mark.native
@async_test
async def test_continuous_survives_the_peer_going_away_and_coming_back(away):
    """The remote peer (a real uvicorn) stops; the job backs off and retries; the same peer comes back on
    the same port and the job carries on where it was."""
    remote_couch = Couch(None)
    there = remote_couch.create_db("there")
    client = tcp_client(timeout=2)
    async with open_peer("local") as local:
        here = local.db("here")
        source_db, target_db = (there, here) if away == "source" else (here, there)
        fill(source_db, 50)
        server = serve_uvicorn(CouchApp(remote_couch), timeout_graceful_shutdown=0.2)
        port = await server.__aenter__()
        remote = RemoteEndpoint(f"http://127.0.0.1:{port}/there", client)
        source, target = remote, local.endpoint("here")
        if away == "target":
            source, target = target, source
        options = ReplicationOptions(continuous=True, backoff=FAST_BACKOFF, heartbeat=0.2)
        job = Replication(source, target, options).start()
        await wait_until(lambda: snapshot(target_db) == snapshot(source_db))
        await server.__aexit__(None, None, None)
        source_db.put({"_id": "while-away"})
        await wait_until(lambda: job.state == "crashing" and job.attempts >= 3)
        assert "peer_unavailable" in job.error
        async with serve_uvicorn(CouchApp(remote_couch), port=port, timeout_graceful_shutdown=0.2):
            await wait_until(lambda: snapshot(target_db) == snapshot(source_db))
            assert job.state == "running"
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job.wait()
    await client.close()
    remote_couch.close()
