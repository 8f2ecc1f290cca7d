"""Interop with real peers from npm, both directions, one-shot and continuous, 2,000 documents with
attachments, deletions and conflicts (``peers.seed``):

- browsercouch's replicator driving, with pouchdb-server 4.2.0 as the remote peer (push, then pull back
  into a fresh database; then continuous push and pull while both sides take new writes);
- PouchDB (``pouchdb-node``) driving, with a ``browsercouch serve`` subprocess as the remote peer
  (``tests/node/replicator_pouchdb.mjs``: pull, push to a second database, then live pull and push).

Afterwards every side has the same ``shape``: each document's leaves with their full ``_revisions``,
deleted flags, attachment bytes and bodies, the winning rev (``None`` when the document is deleted) and
``_conflicts``, each as the server itself reports them. Attachments compare by their bytes, not their
digests: PouchDB gives an attachment the md5 of its bytes, CouchDB (and browsercouch) of its stored gzip
stream when the type is compressible, so a text attachment that went through PouchDB has another digest.
"""

import asyncio
import base64
import hashlib
import json
import secrets
import subprocess

import pytest
from helpers import NODE_DIR, http

from browsercouch.errors import NotFound
from browsercouch.http import tcp_client
from browsercouch.replicator import (
    LocalEndpoint,
    RemoteEndpoint,
    Replication,
    ReplicationOptions,
    replicate,
)
from browsercouch.store import Couch

from .peers import b64, seed, wait_until

pytestmark = [pytest.mark.node, pytest.mark.slow]

DOCS = 2000
LIVE_DOCS = 40
NODE_TIMEOUT = 300
# Leaves fetched per _bulk_get when reading a server's shape.
CHUNK = 250


def _leaf(doc):
    """A leaf read with its attachments' data: ``[rev, ids, deleted, {name: md5 of bytes}, body]``."""
    atts = {name: hashlib.md5(base64.b64decode(att["data"])).hexdigest()
            for name, att in (doc.get("_attachments") or {}).items()}
    body = {k: v for k, v in doc.items() if not k.startswith("_")}
    return [doc["_rev"], doc["_revisions"]["ids"], bool(doc.get("_deleted")), atts, body]


def store_shape(db):
    """The shape of a database of our store, read directly."""
    shape = {}
    for doc_id, _, winner, deleted, _ in db.change_rows(0):
        rows = db.open_revs(doc_id, "all", revs=True, attachments=True)
        leaves = sorted((_leaf(row["ok"]) for row in rows if "ok" in row), key=lambda leaf: leaf[0])
        conflicts = [] if deleted else sorted(db.get(doc_id, conflicts=True).get("_conflicts", []))
        shape[doc_id] = {"leaves": leaves, "winner": None if deleted else winner, "conflicts": conflicts}
    return shape


def http_shape(db_url):
    """The shape of a database behind a CouchDB-compatible URL, as that server reports it."""
    status, _, changes = http("GET", db_url + "/_changes?style=all_docs")
    assert status == 200, changes
    wanted = [{"id": row["id"], "rev": change["rev"]}
              for row in changes["results"] for change in row["changes"]]
    leaves = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = {"docs": wanted[start:start + CHUNK]}
        status, _, answer = http("POST", db_url + "/_bulk_get?revs=true&attachments=true", chunk)
        assert status == 200, answer
        for result in answer["results"]:
            for item in result["docs"]:
                leaves.setdefault(result["id"], []).append(_leaf(item["ok"]))
    status, _, all_docs = http("POST", db_url + "/_all_docs?include_docs=true&conflicts=true",
                               {"keys": sorted(leaves)})
    assert status == 200, all_docs
    shape = {}
    for row in all_docs["rows"]:
        live = "value" in row and not row["value"].get("deleted")
        shape[row["key"]] = {"leaves": sorted(leaves[row["key"]], key=lambda leaf: leaf[0]),
                             "winner": row["value"]["rev"] if live else None,
                             "conflicts": sorted(row["doc"].get("_conflicts", [])) if live else []}
    return shape


def _more_writes(db, tag):
    """New documents (some with attachments), an edit and a deletion, for the continuous phase."""
    db.update_docs([{"_id": f"{tag}-{k:03}", "n": k, **({"_attachments": {"t.txt": {
        "content_type": "text/plain", "data": b64(f"{tag} {k}".encode())}}} if k % 4 == 0 else {})}
        for k in range(LIVE_DOCS)])
    doc = db.get("doc-00001")
    db.put({**doc, "edited_live": tag})
    db.put({"_id": "doc-00002", "_rev": db.get("doc-00002")["_rev"], "_deleted": True})


async def _ours_with_pouchdb_server(couch, db_url):
    client = tcp_client()
    try:
        local, remote = LocalEndpoint(couch, "seed"), RemoteEndpoint(db_url, client)
        pushed = await replicate(local, remote, ReplicationOptions(create_target=True))
        pulled = await replicate(remote, LocalEndpoint(couch, "back"), ReplicationOptions(create_target=True))
        one_shot = (store_shape(couch.get_db("seed")), await asyncio.to_thread(http_shape, db_url),
                    store_shape(couch.get_db("back")))
        options = ReplicationOptions(continuous=True, heartbeat=1.0)
        jobs = [Replication(local, remote, options).start(),
                Replication(remote, LocalEndpoint(couch, "back"), options).start()]
        await wait_until(lambda: all(job.stats.checkpointed_source_seq for job in jobs))
        _more_writes(couch.get_db("seed"), "live")
        # A write made on pouchdb-server itself must come back through the continuous pull.
        direct = {"docs": [{"_id": "direct", "from": "pouchdb-server"}]}
        await client.request("POST", db_url + "/_bulk_docs", {"content-type": "application/json"},
                             json.dumps(direct).encode())
        for _ in range(600):  # until both jobs are through every change there is (bounded: 60 s)
            server_seq = (await remote.info())["update_seq"]
            if (jobs[0].stats.through_seq, jobs[1].stats.through_seq) == (couch.get_db("seed").update_seq,
                                                                          server_seq):
                break
            await asyncio.sleep(0.1)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*(job.wait() for job in jobs), return_exceptions=True)
        assert [job.state for job in jobs] == ["cancelled", "cancelled"], [job.error for job in jobs]
        return pushed, pulled, one_shot
    finally:
        await client.close()


def _has(db, doc_id):
    try:
        db.get(doc_id)
    except NotFound:
        return False
    return True


def test_our_replicator_with_pouchdb_server(pouchdb_server):
    couch = Couch(None)
    seed(couch.create_db("seed"), DOCS)
    db_url = f"{pouchdb_server}bc-{secrets.token_hex(4)}"
    pushed, pulled, (seed_shape, server_shape, back_shape) = asyncio.run(
        _ours_with_pouchdb_server(couch, db_url))
    leaves = sum(len(entry["leaves"]) for entry in seed_shape.values())
    assert pushed["history"][0]["docs_written"] == pulled["history"][0]["docs_written"] == leaves
    assert len(seed_shape) == DOCS + 6
    assert sum(1 for e in seed_shape.values() if e["conflicts"]) > 100
    assert sum(1 for e in seed_shape.values() if e["winner"] is None) > 100
    assert sum(1 for e in seed_shape.values() if any(leaf[3] for leaf in e["leaves"])) > 200
    assert server_shape == seed_shape
    assert back_shape == seed_shape
    # After the continuous phase: the server and our pulled copy agree, and hold every seed document.
    final_server, final_back = http_shape(db_url), store_shape(couch.get_db("back"))
    assert final_back == final_server
    assert {k: v for k, v in final_back.items() if k != "direct"} == store_shape(couch.get_db("seed"))
    assert final_back["direct"]["winner"].startswith("1-")
    _negative_control(db_url, final_back)
    couch.close()


def _negative_control(db_url, shape):
    """The comparison can fail: a conflicting revision written behind the replicator's back shows."""
    doc = {"_id": "doc-00005", "_rev": "9-" + "f" * 32, "_revisions": {"start": 9, "ids": ["f" * 32]}}
    status, _, body = http("POST", db_url + "/_bulk_docs", {"docs": [doc], "new_edits": False})
    assert status == 201, body
    changed = http_shape(db_url)
    assert changed != shape and changed["doc-00005"]["winner"] == doc["_rev"]


def test_pouchdb_replicates_with_browsercouch(browsercouch_factory):
    server = browsercouch_factory()
    couch = Couch(None)
    seed(couch.create_db("seed"), DOCS)
    source_url, target_url = server.url + "source", server.url + "target"

    async def push():
        client = tcp_client()
        try:
            await replicate(LocalEndpoint(couch, "seed"), RemoteEndpoint(source_url, client),
                            ReplicationOptions(create_target=True))
        finally:
            await client.close()

    asyncio.run(push())
    proc = subprocess.run(["node", str(NODE_DIR / "replicator_pouchdb.mjs"), source_url, target_url,
                           "--live", str(LIVE_DOCS)], cwd=NODE_DIR, capture_output=True, text=True,
                          timeout=NODE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    source_shape, target_shape = http_shape(source_url), http_shape(target_url)
    assert out["live_written"] == LIVE_DOCS
    seed_shape = store_shape(couch.get_db("seed"))
    assert out["pulled"] == out["pushed"] == sum(len(e["leaves"]) for e in seed_shape.values())
    assert out["snapshot"] == source_shape
    assert target_shape == source_shape
    assert {k: v for k, v in source_shape.items() if not k.startswith("live-")} == seed_shape
    assert source_shape["live-0001"]["winner"] is None and source_shape["live-0000"]["leaves"][0][3]
    _negative_control(target_url, source_shape)
    couch.close()


def test_a_filter_function_with_query_params_on_pouchdb_server(pouchdb_server):
    """``filter: "ddoc/name"`` with ``query_params`` runs the peer's JavaScript filter (pouchdb-server has
    a JavaScript engine; browsercouch does not)."""
    db_url = f"{pouchdb_server}filter-{secrets.token_hex(4)}"
    http("PUT", db_url)
    ddoc = {"_id": "_design/app", "filters": {
        "by_type": "function (doc, req) { return doc.type === req.query.type; }"}}
    docs = [ddoc] + [{"_id": f"d{i:03}", "type": "keep" if i % 3 == 0 else "skip"} for i in range(60)]
    status, _, body = http("POST", db_url + "/_bulk_docs", {"docs": docs})
    assert status == 201, body
    couch = Couch(None)

    async def run():
        client = tcp_client()
        try:
            options = ReplicationOptions(create_target=True, filter="app/by_type",
                                         query_params={"type": "keep"}, batch_size=7)
            return await replicate(RemoteEndpoint(db_url, client), LocalEndpoint(couch, "kept"), options)
        finally:
            await client.close()

    result = asyncio.run(run())
    kept = sorted(doc_id for doc_id, _ in couch.get_db("kept").all_docs())
    assert kept == [f"d{i:03}" for i in range(0, 60, 3)]
    assert result["history"][0]["docs_written"] == 20
    couch.close()
