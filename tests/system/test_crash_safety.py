"""Acknowledged means durable: ``kill -9`` a server in the middle of a stream of ``_bulk_docs`` writes,
restart it on the same data directory, and every write that was answered 201 must be there, with the
exact revision the client was given; ``_all_docs``, ``_changes`` and the database info must agree; and
SQLite must find the file intact (``PRAGMA integrity_check``).

A client thread streams batches of ``BATCH_SIZE`` documents (new documents with known ids, updates and
deletions of acknowledged ones) and records the revisions of every acknowledged write. The batch in
flight when the server dies is *in doubt*: each of its documents may be in its old or its new state, but
in nothing else. The kill comes after a random delay (``SEED`` makes a run reproducible), and the whole
cycle repeats ``ROUNDS`` times on the same directory, so recovery after recovery is tested too.

This kills the process, not the machine: it proves nothing is acknowledged before it reaches SQLite and
the OS, not that the disk cache was flushed (``synchronous=FULL`` is what covers a power cut).
"""

import http.client as http_client
import json
import os
import random
import sqlite3
import threading
import time

from helpers import http, start_browsercouch

ROUNDS = 3
BATCH_SIZE = 50
# Of each batch, this many documents are updates or deletions of documents already acknowledged.
EDITS_PER_BATCH = 10
# The server is killed after this many seconds of writing (uniformly drawn).
KILL_AFTER = (0.3, 1.5)
SEED = int(os.environ.get("BROWSERCOUCH_CRASH_SEED", str(random.randrange(2**32))))
DB = "crash"


class Writer(threading.Thread):
    """Streams ``_bulk_docs`` batches until the server goes away; keeps the model of what was acked.

    ``acked`` maps a document id to ``(rev, deleted)`` as last acknowledged; ``in_doubt`` maps the ids of
    the unanswered batch to the states they may be in: ``None`` (never written) or ``(generation,
    deleted)`` of the write in flight, besides their acknowledged state.
    """

    def __init__(self, port, round_no, acked, rng):
        super().__init__(daemon=True)
        self.port, self.round_no, self.acked, self.rng = port, round_no, acked, rng
        self.in_doubt = {}
        self.batches = 0
        self.error = None

    def _batch(self):
        live = [i for i, (_, deleted) in self.acked.items() if not deleted]
        edited = self.rng.sample(live, min(EDITS_PER_BATCH, len(live)))
        docs = []
        for doc_id in edited:
            rev = self.acked[doc_id][0]
            if self.rng.random() < 0.3:
                docs.append({"_id": doc_id, "_rev": rev, "_deleted": True})
            else:
                docs.append({"_id": doc_id, "_rev": rev, "v": self.rng.random()})
        for i in range(BATCH_SIZE - len(docs)):
            docs.append({"_id": f"r{self.round_no}-b{self.batches:05d}-{i:02d}", "v": self.rng.random(),
                         "pad": "x" * self.rng.randrange(300)})
        return docs

    def run(self):
        conn = http_client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            while True:
                docs = self._batch()
                self.in_doubt = {d["_id"]: _next_state(self.acked.get(d["_id"]), d) for d in docs}
                body = json.dumps({"docs": docs}).encode()
                try:
                    conn.request("POST", f"/{DB}/_bulk_docs", body=body,
                                 headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http_client.HTTPException):
                    return  # the server died: this batch stays in doubt
                if response.status != 201:
                    self.error = f"_bulk_docs answered {response.status}: {payload[:300]!r}"
                    return
                self._record(docs, payload)
        finally:
            conn.close()

    def _record(self, docs, payload):
        rows = json.loads(payload)
        for doc, row in zip(docs, rows, strict=True):
            if row.get("ok") is not True or row["id"] != doc["_id"]:
                self.error = f"unexpected row {row} for {doc['_id']}"
                return
            self.acked[row["id"]] = (row["rev"], bool(doc.get("_deleted")))
        self.in_doubt = {}
        self.batches += 1


def _generation(rev):
    return int(rev.split("-", 1)[0])


def _next_state(acked, doc):
    generation = 1 if acked is None else _generation(acked[0]) + 1
    return generation, bool(doc.get("_deleted"))


def _check_doc(doc_id, row, acked, in_doubt, context):
    """One ``_all_docs?keys`` row against the model."""
    found = None
    if "error" not in row:
        found = (row["value"]["rev"], bool(row["value"].get("deleted")))
    expected = acked.get(doc_id)
    if found == expected:
        return
    if doc_id in in_doubt and found is not None:
        generation, deleted = in_doubt[doc_id]
        if (_generation(found[0]), found[1]) == (generation, deleted):
            return
    raise AssertionError(f"{context}: {doc_id} is {found}, acknowledged as {expected}")


def _verify(url, acked, in_doubt, context):
    """Every acknowledged write is there; _all_docs, _changes and the info agree. Returns the state of
    every document of the model as found, ``{id: (rev, deleted)}``."""
    status, _, info = http("GET", url + DB)
    assert status == 200, f"{context}: GET /{DB} -> {status} {info}"
    ids = sorted(set(acked) | set(in_doubt))
    status, _, body = http("POST", url + DB + "/_all_docs", {"keys": ids})
    assert status == 200, f"{context}: _all_docs -> {status}"
    rows = body["rows"]
    for doc_id, row in zip(ids, rows, strict=True):
        _check_doc(doc_id, row, acked, in_doubt, context)
    current = {row["key"]: (row["value"]["rev"], bool(row["value"].get("deleted")))
               for row in rows if "error" not in row}

    changes = http("GET", url + DB + "/_changes?style=all_docs")[2]
    seqs = [row["seq"] for row in changes["results"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"{context}: _changes seqs {seqs[:20]}"
    by_id = {}
    for row in changes["results"]:
        assert row["id"] not in by_id, f"{context}: {row['id']} twice in _changes"
        by_id[row["id"]] = ([c["rev"] for c in row["changes"]], bool(row.get("deleted")))
    assert set(by_id) == set(current), f"{context}: _changes ids differ from _all_docs"
    for doc_id, (rev, deleted) in current.items():
        assert by_id[doc_id] == ([rev], deleted), f"{context}: {doc_id} _changes {by_id[doc_id]} vs {rev}"

    live = [row for row in http("GET", url + DB + "/_all_docs")[2]["rows"]]
    assert {row["id"]: row["value"]["rev"] for row in live} == \
        {i: rev for i, (rev, deleted) in current.items() if not deleted}, f"{context}: _all_docs differs"
    assert info["doc_count"] == len(live), f"{context}: doc_count {info['doc_count']} != {len(live)}"
    assert info["doc_del_count"] == sum(d for _, d in current.values()), f"{context}: doc_del_count"
    assert changes["last_seq"] == info["update_seq"], f"{context}: last_seq {changes['last_seq']} vs info"
    return current


def _integrity(path, context):
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
    finally:
        conn.close()


def test_acknowledged_writes_survive_kill_9(tmp_path):
    rng = random.Random(SEED)
    data = tmp_path / "data"
    acked, in_doubt = {}, {}
    for round_no in range(ROUNDS):
        context = f"seed {SEED} (BROWSERCOUCH_CRASH_SEED), round {round_no}"
        server = start_browsercouch("--data", data)
        try:
            if round_no == 0:
                assert http("PUT", server.url + DB)[0] == 201
            else:
                # Recovery: everything acknowledged before the last crash, nothing impossible. The batch
                # that was in doubt is now settled, whichever way it went.
                found = _verify(server.url, acked, in_doubt, context + ", after restart")
                acked.clear()
                acked.update(found)
                in_doubt = {}
            port = int(server.url.rstrip("/").rsplit(":", 1)[1])
            writer = Writer(port, round_no, acked, rng)
            writer.start()
            time.sleep(rng.uniform(*KILL_AFTER))
            server.proc.kill()
            server.proc.wait(10)
            writer.join(15)
            assert not writer.is_alive(), f"{context}: the writer hung after the kill"
            assert writer.error is None, f"{context}: {writer.error}"
            assert writer.batches > 0, f"{context}: no batch was acknowledged before the kill"
            in_doubt = writer.in_doubt
        finally:
            server.stop()
        _integrity(data / f"{DB}.couch", context)

    server = start_browsercouch("--data", data)
    try:
        context = f"seed {SEED}, final restart"
        _verify(server.url, acked, in_doubt, context)
        assert http("PUT", server.url + DB + "/after-crash", {"ok": 1})[0] == 201, context
    finally:
        server.stop()
    _integrity(data / f"{DB}.couch", context)
