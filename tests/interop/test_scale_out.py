"""Scale-out, shown: browsercouch replicating continuously into an Apache CouchDB 3.4.3 cluster.

The cluster is two nodes on loopback, ``couchdb@127.0.0.2`` and ``couchdb@127.0.0.3``, joined with
``_cluster_setup`` (``tests/couchdb_cluster.py``), and the target database has q=2 shards with n=2 copies:
a copy of each shard on each node. Where two loopback addresses cannot be bound (macOS), a single node with
q=2 stands in; the test ids say which (``two-node-cluster`` or ``single-node-q2``).

Each source replicates continuously into the first node with browsercouch's own replicator:

- the native server (``browsercouch serve``) through a ``_replicator`` document;
- the tab (``browsercouch browser --headless``) through ``POST /_replicate`` with ``continuous: true``;
  the cluster allows the extension's origin by CORS, as it must for any page or extension.

While it runs, the source takes new documents, updates, deletions, conflicting branches and attachments
(text, JSON and binary, some added or removed by updates). Then everything must arrive: document counts, every
leaf, winners, ``_conflicts``, bodies and attachment bytes, read from both nodes through the cluster API
and from each node's own shard copies (``/_node/NAME/shards%2F...``), which shows that each node holds all
of it. Last, read-your-writes through the second node: a write to the source shows up there, and a write
through one node is read back at once through the other.
"""

import base64
import hashlib
import http.client as http_client
import ipaddress
import json
import random
import re
import time
import types
import urllib.parse

import pytest
from couchdb_cluster import cluster_missing_reason, listening_addresses, start_cluster
from helpers import (
    couchdb_missing_reason,
    http,
    new_db,
    server_output,
    start_browser_server,
    start_browsercouch,
    start_couchdb,
)

from browsercouch import launcher
from browsercouch.bridge import EXTENSION_ID

TOPOLOGY = "two-node-cluster" if cluster_missing_reason() is None else "single-node-q2"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(couchdb_missing_reason() is not None,
                                                   reason=couchdb_missing_reason() or "")]

SEED_DOCS = 150
LIVE_DOCS = 150
LIVE_BATCHES = 6
# A pause between live batches, so the replicator sees them arrive over several of its rounds.
BATCH_PAUSE = 0.3
# How long the last write may take to reach every node through continuous replication.
ARRIVAL_TIMEOUT = 40.0


@pytest.fixture(scope="module", params=[TOPOLOGY])
def cluster(request, tmp_path_factory):
    """The running target: ``nodes``, each with ``url`` (admin credentials, trailing slash), ``name`` and
    ``pid``."""
    workdir = tmp_path_factory.mktemp("cluster")
    if request.param == "two-node-cluster":
        target = start_cluster(workdir)
    else:
        target = start_couchdb(workdir, q=2)
        name = http("GET", target.url + "_membership")[2]["all_nodes"][0]
        pid = int((workdir / "couchdb.pid").read_text())
        target.nodes = [types.SimpleNamespace(url=target.url, name=name, pid=pid)]
    yield target
    target.stop()


def test_nodes_listen_on_loopback_only(cluster):
    for node in cluster.nodes:
        addresses = listening_addresses(node.pid)
        assert len(addresses) >= 2, f"{node.name} should listen for HTTP and distribution: {addresses}"
        assert all(ipaddress.ip_address(host).is_loopback for host, _ in addresses), (node.name, addresses)


NO_BROWSER = launcher.missing_reason()


@pytest.mark.parametrize("source", ["native", pytest.param("tab", marks=[
    pytest.mark.chromium, pytest.mark.skipif(NO_BROWSER is not None, reason=NO_BROWSER or "")])])
def test_continuous_replication_into_the_cluster(cluster, source, tmp_path):
    server = start_browsercouch() if source == "native" else start_browser_server(tmp_path / "profile")
    try:
        _replicate_and_compare(cluster, server.url, source)
    finally:
        server.stop()


def _replicate_and_compare(cluster, server_url, source):
    first, last = cluster.nodes[0], cluster.nodes[-1]
    src = new_db(server_url, "scale")
    name = src.rsplit("/", 1)[1]
    target = first.url + name
    _create_target(cluster, target)
    _write(src, [_doc(i) for i in range(SEED_DOCS)])
    if source == "native":
        _start_with_replicator_doc(server_url, name, target)
    else:
        _allow_extension_origin(cluster)
        _start_with_replicate(server_url, name, target)
    _live_writes(src)
    _wait_for_arrival(src, [node.url + name for node in cluster.nodes])

    expected = _snapshot(src)
    assert len(expected) == SEED_DOCS + LIVE_DOCS + LIVE_BATCHES, sorted(expected)[:5]
    assert all(_counts(expected).values()), _counts(expected)
    for node in cluster.nodes:
        copies = _shard_urls(node, name)
        assert _db_counts(node.url + name) == _db_counts(src), node.name
        assert _differences(_snapshot(node.url + name), expected) == [], f"cluster API of {node.name}"
        assert _differences(_merged(copies), expected) == [], f"shard copies on {node.name}"
        _assert_attachment_bytes(src, expected, node.url + name, list(copies.values()))
    _assert_replication_healthy(server_url, source)
    _assert_read_your_writes(src, first.url + name, last.url + name)


# --- the target -------------------------------------------------------------------------------------------

def _create_target(cluster, target):
    """``PUT /db?q=2&n=NODES``: each of the two shards gets a copy on every node."""
    nodes = sorted(node.name for node in cluster.nodes)
    status, _, answer = http("PUT", f"{target}?q=2&n={len(nodes)}")
    assert status == 201, answer
    shards = http("GET", target + "/_shards")[2]["shards"]
    assert len(shards) == 2 and all(sorted(on) == nodes for on in shards.values()), shards


def _allow_extension_origin(cluster):
    """CORS for the extension's pages on every node: the tab's replicator is a fetch() from them."""
    settings = {("chttpd", "enable_cors"): "true", ("cors", "credentials"): "true",
                ("cors", "origins"): f"chrome-extension://{EXTENSION_ID}"}
    for node in cluster.nodes:
        for (section, key), value in settings.items():
            status, _, answer = http("PUT", f"{node.url}_node/_local/_config/{section}/{key}",
                                     json.dumps(value), {"Content-Type": "application/json"})
            assert status == 200, answer


def _shard_urls(node, db_name):
    """``{shard: URL}`` of the node-local shard copies that ``node`` holds of ``db_name``."""
    status, _, names = http("GET", f"{node.url}_node/{node.name}/_all_dbs")
    assert status == 200, names
    pattern = re.compile(rf"shards/[0-9a-f]{{8}}-[0-9a-f]{{8}}/{re.escape(db_name)}\.\d+")
    found = {shard: f"{node.url}_node/{node.name}/{urllib.parse.quote(shard, safe='')}"
             for shard in names if pattern.fullmatch(shard)}
    assert len(found) == 2, (node.name, names)
    return found


# --- starting the replication -----------------------------------------------------------------------------

def _start_with_replicator_doc(server_url, db_name, target):
    status, _, answer = http("PUT", server_url + "_replicator")
    assert status in (201, 412), answer
    doc = {"source": db_name, "target": target, "continuous": True}
    status, _, answer = http("PUT", f"{server_url}_replicator/to-cluster-{db_name}", doc)
    assert status == 201, answer


def _start_with_replicate(server_url, db_name, target):
    status, _, answer = http("POST", server_url + "_replicate",
                             {"source": db_name, "target": target, "continuous": True})
    assert status == 202 and answer.get("ok"), answer


def _assert_replication_healthy(server_url, source):
    status, _, answer = http("GET", server_url + "_scheduler/jobs")
    assert status == 200 and len(answer["jobs"]) == 1, answer
    info = answer["jobs"][0]["info"]
    assert info.get("doc_write_failures") == 0 and "error" not in info, info
    if source == "native":
        row = http("GET", server_url + "_scheduler/docs")[2]["docs"][0]
        assert row["state"] == "running", row


# --- what the source is given ---------------------------------------------------------------------------

def _b64(data):
    return base64.b64encode(data).decode()


def _attachments(i):
    """Every 5th document: a compressible text, a binary blob, and for every 10th a JSON file."""
    atts = {"note.txt": {"content_type": "text/plain", "data": _b64(f"line {i} of a note\n".encode() * 40)},
            "blob.bin": {"content_type": "application/octet-stream",
                         "data": _b64(random.Random(i).randbytes(300 + 37 * i))}}
    if i % 10 == 0:
        atts["meta.json"] = {"content_type": "application/json", "data": _b64(json.dumps({"i": i}).encode())}
    return atts


def _doc(i):
    doc = {"_id": f"doc-{i:03d}", "n": i, "title": f"document {i}", "tags": ["odd" if i % 2 else "even"]}
    if i % 5 == 0:
        doc["_attachments"] = _attachments(i)
    return doc


def _write(db_url, docs, new_edits=True):
    body = {"docs": docs} if new_edits else {"docs": docs, "new_edits": False}
    status, _, rows = http("POST", db_url + "/_bulk_docs", body)
    assert status == 201 and all("error" not in row for row in rows), rows
    return rows


def _current(db_url, ids):
    status, _, answer = http("POST", db_url + "/_all_docs?include_docs=true", {"keys": ids})
    assert status == 200, answer
    return [row["doc"] for row in answer["rows"]]


def _live_writes(db_url):
    """While the replication runs, in ``LIVE_BATCHES`` rounds: new documents; updates of seeded ones (one
    in three also gets an attachment, one in three loses its own); deletions; and a document with two
    conflicting branches, every other one of which also has a third, deleted branch."""
    per_batch = LIVE_DOCS // LIVE_BATCHES
    for batch in range(LIVE_BATCHES):
        start = SEED_DOCS + batch * per_batch
        _write(db_url, [_doc(i) for i in range(start, start + per_batch)])
        updated = _current(db_url, [f"doc-{i:03d}" for i in range(batch, SEED_DOCS, 7 * LIVE_BATCHES)])
        for doc in updated:
            doc["n"], doc["edited_in"] = -doc["n"], batch
            if doc["n"] % 3 == 0:
                doc.setdefault("_attachments", {})["added.txt"] = {
                    "content_type": "text/plain", "data": _b64(f"added in batch {batch}\n".encode() * 20)}
            elif doc["n"] % 3 == 1:
                doc.pop("_attachments", None)
        _write(db_url, updated)
        deleted = _current(db_url, [f"doc-{i:03d}" for i in range(start + batch % 2, start + per_batch, 8)])
        _write(db_url, [{"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True} for doc in deleted])
        _write(db_url, _conflicting(batch), new_edits=False)
        time.sleep(BATCH_PAUSE)


def _conflicting(batch):
    doc_id = f"conflict-{batch}"
    hashes = {side: hashlib.md5(f"{doc_id}/{side}".encode()).hexdigest() for side in "abc"}
    docs = [{"_id": doc_id, "_rev": f"1-{hashes[side]}", "side": side} for side in "ab"]
    if batch % 2:
        docs.append({"_id": doc_id, "_rev": f"2-{hashes['c']}", "_deleted": True,
                     "_revisions": {"start": 2, "ids": [hashes["c"], hashes["a"]]}})
    return docs


# --- reading a database back ----------------------------------------------------------------------------

def _changes(db_url, query=""):
    status, _, changes = http("GET", f"{db_url}/_changes?style=all_docs{query}")
    assert status == 200, (changes, _server_log(db_url))
    return changes["results"]


def _server_log(url):
    """The output of the server behind ``url`` (browsercouch's, or the cluster's logs), for failures."""
    parts = urllib.parse.urlsplit(url)
    return server_output(f"{parts.scheme}://{parts.netloc}/")[-5000:]


def _leaves(db_url):
    return {row["id"]: sorted(change["rev"] for change in row["changes"]) for row in _changes(db_url)}


def _wait_for_arrival(src, node_urls):
    expected = _leaves(src)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT
    for url in node_urls:
        while (seen := _leaves(url)) != expected:
            assert time.monotonic() < deadline, (
                f"{url}: {len(set(expected) - set(seen))} ids missing after {ARRIVAL_TIMEOUT} s, e.g. "
                f"{_differences(seen, expected, 3)}")
            time.sleep(0.2)


def _snapshot(db_url):
    """``{id: {winner, deleted, conflicts, leaves, body, atts}}``: every document's leaves and winner, from
    ``_changes`` (which node-local shard copies answer too); ``atts`` maps names to type and length."""
    return {row["id"]: _summary(row["doc"], sorted(change["rev"] for change in row["changes"]))
            for row in _changes(db_url, "&include_docs=true&conflicts=true")}


def _summary(doc, leaves):
    atts = {name: {"content_type": att["content_type"], "length": att["length"], "digest": att["digest"]}
            for name, att in doc.get("_attachments", {}).items()}
    return {"winner": doc["_rev"], "deleted": bool(doc.get("_deleted")),
            "conflicts": sorted(doc.get("_conflicts", [])), "leaves": leaves,
            "body": {key: value for key, value in doc.items() if not key.startswith("_")}, "atts": atts}


def _merged(shard_urls):
    merged = {}
    for url in shard_urls.values():
        merged.update(_snapshot(url))
    return merged


def _counts(snapshot):
    """What a snapshot holds, so that two equal ones are not equally empty."""
    docs = snapshot.values()
    return {"deleted": sum(doc["deleted"] for doc in docs),
            "conflicted": sum(bool(doc["conflicts"]) for doc in docs),
            "deleted_leaves": sum(len(doc["leaves"]) - len(doc["conflicts"]) - (not doc["deleted"])
                                  for doc in docs),
            "with_attachments": sum(bool(doc["atts"]) for doc in docs)}


def _db_counts(db_url):
    status, _, info = http("GET", db_url)
    assert status == 200, info
    return info["doc_count"], info["doc_del_count"]


def _differences(a, b, limit=5):
    return [(i, a.get(i), b.get(i)) for i in sorted(set(a) | set(b)) if a.get(i) != b.get(i)][:limit]


def _raw(url):
    """``(status, body bytes)`` of a GET, credentials from the URL; never decoded as JSON."""
    parts = urllib.parse.urlsplit(url)
    headers = {}
    if parts.username:
        headers["Authorization"] = "Basic " + _b64(f"{parts.username}:{parts.password}".encode())
    conn = http_client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", parts.path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _assert_attachment_bytes(src, snapshot, db_url, shard_urls):
    """Every attachment of every live winner, byte for byte, through the cluster API at ``db_url`` and from
    the one shard copy that holds its document (the other answers 404)."""
    checked = 0
    for doc_id, doc in snapshot.items():
        for name in doc["atts"]:
            path = f"/{urllib.parse.quote(doc_id)}/{urllib.parse.quote(name)}"
            want = _raw(src + path)
            assert want[0] == 200, (src, path, want)
            assert _raw(db_url + path) == want, (db_url, path)
            held = [got for got in (_raw(url + path) for url in shard_urls) if got[0] != 404]
            assert held == [want], (path, [got[:1] for got in held])
            checked += 1
    assert checked >= 100, checked


def _assert_read_your_writes(src, first, last):
    """A write to the source reaches the second node by replication; a write through one node is read back
    at once through the other (w = r = 2 of n = 2)."""
    _write(src, [{"_id": "late", "n": 1}])
    _wait_for_arrival(src, [last])
    status, _, made = http("PUT", last + "/ryw", {"through": "second node"})
    assert status == 201, made
    assert http("GET", first + "/ryw")[2].get("_rev") == made["rev"]
    status, _, changed = http("PUT", first + "/ryw", {"_rev": made["rev"], "through": "first node"})
    assert status == 201, changed
    assert http("GET", last + "/ryw")[2] == {"_id": "ryw", "_rev": changed["rev"], "through": "first node"}
