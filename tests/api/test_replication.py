"""Replication routes (``api/replication.py``, ``api/scheduler.py``): ``POST /_replicate``, the
``_replicator`` database, ``_active_tasks`` and ``_scheduler/*``, as CouchDB 3.x answers them."""

import asyncio
import os
import time

import pytest

from browsercouch.api import CouchApp
from browsercouch.http import app_client
from browsercouch.store import Couch
from browsercouch.store.uploads import PART_SIZE

from .util import admins, expect_error, expect_json

PEER = "http://peer.invalid:5984"


def _fill(client, db, count, prefix="doc"):
    docs = [{"_id": f"{prefix}{i:03d}", "n": i} for i in range(count)]
    expect_json(client.post(f"/{db}/_bulk_docs", json={"docs": docs}), 201)


def _ids(client, db):
    return [row["id"] for row in client.get(f"/{db}/_all_docs").json()["rows"]]


def _eventually(client, check, timeout=15.0):
    """Poll ``check(client) -> truthy``, letting the app's background jobs run in between (the pipe
    transport runs them only while the client's loop runs); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check(client)):
        assert time.monotonic() < deadline, "timed out waiting for the replication"
        client.run(asyncio.sleep(0.05))
    return result


@pytest.fixture
def peer():
    """A second server, reachable by the app under test as ``PEER`` through an in-process client."""
    couch = Couch()
    app = CouchApp(couch)
    couch.create_db("remote")
    yield app, couch
    couch.close()


@pytest.fixture
def replicating(make_client, peer):
    return make_client(http_client=app_client(peer[0]))


def test_one_shot_between_local_databases(client, db):
    _fill(client, db, 30)
    response = client.post("/_replicate", json={"source": db, "target": "copy", "create_target": True})
    body = expect_json(response, 200)
    assert body["ok"] is True and body["history"][0]["docs_written"] == 30
    assert _ids(client, "copy") == _ids(client, db)


def test_an_attachment_stored_in_parts_replicates_both_ways(replicating, peer):
    """A large attachment uploaded on its own (``store/uploads.py``) is pushed to a peer and pulled back
    byte for byte, with its digest."""
    data = os.urandom(2 * PART_SIZE + 99)
    expect_json(replicating.put("/big"), 201)
    expect_json(replicating.put("/big/doc/blob.bin", body=data,
                                headers={"Content-Type": "application/octet-stream"}), 201)
    expect_json(replicating.post("/_replicate", json={"source": "big", "target": f"{PEER}/remote"}))
    assert peer[1].get_db("remote").get_attachment("doc", "blob.bin")[2] == data
    expect_json(replicating.post("/_replicate", json={"source": f"{PEER}/remote", "target": "back",
                                                      "create_target": True}))
    response = replicating.get("/back/doc/blob.bin")
    assert response.status == 200 and response.body == data
    assert replicating.get("/back/doc").json()["_attachments"]["blob.bin"]["digest"] == \
        replicating.get("/big/doc").json()["_attachments"]["blob.bin"]["digest"]


def test_one_shot_pull_from_a_remote_peer(replicating, peer):
    peer[1].get_db("remote").update_docs([{"_id": f"r{i}", "n": i} for i in range(25)])
    expect_json(replicating.put("/mine"), 201)
    body = expect_json(replicating.post("/_replicate", json={"source": f"{PEER}/remote", "target": "mine"}))
    assert body["history"][0]["docs_read"] == 25
    assert len(_ids(replicating, "mine")) == 25


def test_push_to_a_remote_peer_with_create_target(replicating, peer):
    expect_json(replicating.put("/outbox"), 201)
    _fill(replicating, "outbox", 10)
    spec = {"source": "outbox", "target": {"url": f"{PEER}/pushed"}, "create_target": True}
    expect_json(replicating.post("/_replicate", json=spec))
    assert peer[1].get_db("pushed").doc_count == 10


def test_continuous_jobs_show_in_active_tasks_and_cancel(client, db):
    expect_json(client.put("/live"), 201)
    spec = {"source": db, "target": "live", "continuous": True}
    started = expect_json(client.post("/_replicate", json=spec), 202)
    assert started["ok"] is True and started["_local_id"].endswith("+continuous")
    _fill(client, db, 5)
    _eventually(client, lambda c: len(_ids(c, "live")) == 5)
    tasks = client.get("/_active_tasks").json()
    assert [t["type"] for t in tasks] == ["replication"] and tasks[0]["continuous"] is True
    jobs = client.get("/_scheduler/jobs").json()
    assert jobs["total_rows"] == 1 and jobs["jobs"][0]["id"] == started["_local_id"]
    again = expect_json(client.post("/_replicate", json=spec), 202)
    assert again["_local_id"] == started["_local_id"]
    cancelled = client.post("/_replicate", json={"replication_id": started["_local_id"], "cancel": True})
    assert expect_json(cancelled)["_local_id"] == started["_local_id"]
    _eventually(client, lambda c: c.get("/_active_tasks").json() == [])


def test_cancelling_a_one_shot_job_answers_its_waiting_request(make_client, peer):
    """The request waiting on a one-shot job gets a JSON error when another request cancels the job (it
    was a bare 500 from the server's own exception handler)."""

    async def stuck_feed(scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("/_changes"):
            await asyncio.sleep(60)
        await peer[0](scope, receive, send)

    client = make_client(http_client=app_client(stuck_feed))
    expect_json(client.put("/inbox"), 201)
    spec = {"source": f"{PEER}/remote", "target": "inbox"}

    async def cancel_while_it_waits():
        conn = await client.connect()
        waiting = asyncio.ensure_future(client.arequest("POST", "/_replicate", json=spec, conn=conn))
        await asyncio.sleep(0.5)
        cancelled = await client.arequest("POST", "/_replicate", json={**spec, "cancel": True})
        answer = await asyncio.wait_for(waiting, 10)
        await conn.close()
        return cancelled, answer

    cancelled, answer = client.run(cancel_while_it_waits())
    assert expect_json(cancelled)["ok"] is True
    expect_error(answer, 500, "replication_cancelled")


def test_cancel_of_an_unknown_job_is_404(client):
    response = client.post("/_replicate", json={"replication_id": "nope+continuous", "cancel": True})
    expect_error(response, 404, "not_found")


@pytest.mark.parametrize("body", [{"source": "a"}, [], {"source": 1, "target": "b"}],
                         ids=["no target", "not an object", "source not a string"])
def test_bad_replication_requests_are_400(client, body):
    expect_error(client.post("/_replicate", json=body), 400, "bad_request")


def test_replicate_needs_a_server_admin(make_client):
    client = make_client(admins=admins(root="pw"))
    expect_error(client.post("/_replicate", json={"source": "a", "target": "b"}), 401, "unauthorized")


def test_refused_peer_fails_the_job_with_a_clear_message(make_client):
    guarded = CouchApp(Couch(), admins=admins(root="pw"))
    guarded.couch.create_db("locked")
    client = make_client(http_client=app_client(guarded))
    response = client.post("/_replicate", json={"source": f"{PEER}/locked", "target": "x",
                                                "create_target": True})
    assert response.status == 401
    assert "refused access" in response.json()["reason"]


def _state(client, doc_id):
    return client.get(f"/_replicator/{doc_id}").json().get("_replication_state")


def test_replicator_documents_run_and_record_their_state(client, db):
    _fill(client, db, 12)
    expect_json(client.put("/_replicator"), 201)
    doc = {"source": db, "target": "from-doc", "create_target": True}
    expect_json(client.put("/_replicator/job1", json=doc), 201)
    _eventually(client, lambda c: _state(c, "job1") == "completed")
    recorded = client.get("/_replicator/job1").json()
    assert recorded["_replication_stats"]["docs_written"] == 12 and "_replication_state_time" in recorded
    assert len(_ids(client, "from-doc")) == 12
    rows = client.get("/_scheduler/docs").json()["docs"]
    assert [(r["doc_id"], r["state"]) for r in rows] == [("job1", "completed")]


def test_a_failing_replicator_document_records_why(client):
    expect_json(client.put("/_replicator"), 201)
    expect_json(client.put("/_replicator/bad", json={"source": "missing", "target": "x"}), 201)
    _eventually(client, lambda c: _state(c, "bad") == "failed")
    assert "missing" in client.get("/_replicator/bad").json()["_replication_state_reason"]


def test_deleting_a_replicator_document_cancels_its_job(client, db):
    expect_json(client.put("/_replicator"), 201)
    rev = expect_json(client.put("/_replicator/live", json={
        "source": db, "target": "t", "create_target": True, "continuous": True}), 201)["rev"]
    _eventually(client, lambda c: c.get("/_active_tasks").json())
    expect_json(client.delete(f"/_replicator/live?rev={rev}"))
    _eventually(client, lambda c: c.get("/_active_tasks").json() == [])


def test_replicator_jobs_survive_a_restart(make_client, tmp_path):
    first = make_client(data_dir=str(tmp_path))
    expect_json(first.put("/src"), 201)
    _fill(first, "src", 3)
    expect_json(first.put("/_replicator"), 201)
    spec = {"source": "src", "target": "dst", "create_target": True, "continuous": True}
    expect_json(first.put("/_replicator/keep", json=spec), 201)
    _eventually(first, lambda c: c.get("/dst").status == 200 and len(_ids(c, "dst")) == 3)
    first.close()
    first.app.couch.close()

    second = make_client(data_dir=str(tmp_path))
    _fill(second, "src", 2, prefix="after")
    _eventually(second, lambda c: len(_ids(c, "dst")) == 5)
    docs = second.get("/_scheduler/docs/_replicator/keep").json()
    assert docs["state"] == "running"
    assert "src" in docs["source"] and "dst" in docs["target"]
