"""``replicator.checkpoint``: comparing replication logs, capping history, retrying a 409.

The comparison table ports the cases of PouchDB's ``tests/unit/test.checkpointer.js`` (whose
``compareReplicationLogs`` is itself a port of CouchDB's ``compare_replication_logs/2``), written with
CouchDB's field names (``source_last_seq``, ``recorded_seq``), plus the branches of CouchDB's
``compare_rep_history/2`` that those cases do not reach. The pure functions need no event loop.
"""

import pytest
from helpers import async_test

from browsercouch.errors import Conflict, NotFound
from browsercouch.replicator.checkpoint import (
    LOWEST_SEQ,
    MAX_HISTORY,
    compare_rep_history,
    compare_replication_logs,
    new_log,
    read_log,
    write_log,
)


def log(session, last_seq, *history):
    """A log whose history holds ``(session, recorded_seq)`` pairs, newest first."""
    return {"session_id": session, "source_last_seq": last_seq,
            "history": [{"session_id": s, "recorded_seq": q} for s, q in history]}


CASES = [
    # (id, source log, target log, expected start seq, expected history sessions)
    ("no logs at all", None, None, LOWEST_SEQ, []),
    ("only the source has a log", log("s1", 4, ("s1", 4)), None, LOWEST_SEQ, []),
    ("only the target has a log", None, log("s1", 4, ("s1", 4)), LOWEST_SEQ, []),
    ("same session: the source's record counts", log("s3", 6, ("s3", 6), ("s2", 5), ("s1", 2)),
     log("s3", 7, ("s3", 7), ("s2", 5), ("s1", 2)), 6, ["s3", "s2", "s1"]),
    ("divergent, source ahead: the target's head is in the source's past",
     log("s3", 3, ("s3", 3), ("s2", 2), ("s1", 1)), log("s2", 2, ("s2", 2), ("s1", 1)), 2, ["s1"]),
    ("divergent, target ahead: the source's head is in the target's past",
     log("s6", 6, ("s6", 6), ("s5", 5), ("s4", 4), ("s3", 3), ("s2", 2)),
     log("s9", 9, ("s9", 9), ("s8", 8), ("s7", 7), ("s6", 6), ("s5", 5)), 6, ["s5", "s4", "s3", "s2"]),
    ("divergent both ways: the newest shared session deeper down",
     log("a2", 20, ("a2", 20), ("a1", 15), ("c", 10), ("b", 5)),
     log("b2", 30, ("b2", 30), ("b1", 25), ("x", 12), ("c", 10)), 10, ["b"]),
    ("no shared session: start over", log("a", 5, ("a", 5)), log("b", 7, ("b", 7)), LOWEST_SEQ, []),
    ("an empty history on one side", log("a", 5, ("a", 5)), log("b", 7), LOWEST_SEQ, []),
    ("opaque sequences pass through", log("s", "12-g1AAA", ("s", "12-g1AAA")),
     log("s", "12-g1AAA", ("s", "12-g1AAA")), "12-g1AAA", ["s"]),
    ("a malformed history is no history", {"session_id": "a", "history": "junk"},
     {"session_id": "b", "history": [1, 2]}, LOWEST_SEQ, []),
]


@pytest.mark.parametrize("source, target, start, sessions", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compare_replication_logs(source, target, start, sessions):
    seq, history = compare_replication_logs(source, target)
    assert seq == start
    assert [entry["session_id"] for entry in history] == sessions


def test_compare_is_not_symmetric_in_what_it_keeps():
    """CouchDB keeps the rest of whichever history held the match."""
    source = [{"session_id": "s", "recorded_seq": 1}, {"session_id": "old-s", "recorded_seq": 0}]
    target = [{"session_id": "t", "recorded_seq": 2}, {"session_id": "s", "recorded_seq": 1}]
    assert compare_rep_history(source, target) == (1, [{"session_id": "old-s", "recorded_seq": 0}])


def test_new_log_puts_this_session_first_and_caps_history():
    old = [{"session_id": f"s{i}"} for i in range(MAX_HISTORY + 10)]
    body = new_log("now", 42, {"session_id": "now", "recorded_seq": 42}, old)
    assert body["session_id"] == "now" and body["source_last_seq"] == 42
    assert len(body["history"]) == MAX_HISTORY
    assert body["history"][0]["session_id"] == "now" and body["history"][1]["session_id"] == "s0"


class FakeEndpoint:
    """Just ``get_local``/``put_local`` with ``_local`` revs as the store numbers them; ``steal`` other
    writers' updates happen before each of our writes."""

    def __init__(self, steal=0):
        self.docs = {}
        self.steal = steal
        self.puts = 0

    async def get_local(self, doc_id):
        if doc_id not in self.docs:
            raise NotFound()
        return dict(self.docs[doc_id])

    async def put_local(self, doc):
        self.puts += 1
        current = self.docs.get(doc["_id"], {}).get("_rev")
        if self.steal:
            self.steal -= 1
            current = self._store(doc["_id"], {"stolen": True}, current)
        if doc.get("_rev") != current:
            raise Conflict()
        return {"ok": True, "id": doc["_id"], "rev": self._store(doc["_id"], doc, current)}

    def _store(self, doc_id, body, current):
        rev = f"0-{int((current or '0-0')[2:]) + 1}"
        self.docs[doc_id] = {**body, "_id": doc_id, "_rev": rev}
        return rev


@async_test
async def test_read_log_of_a_missing_document():
    assert await read_log(FakeEndpoint(), "_local/x") == (None, None)


@async_test
async def test_write_then_read_round_trips():
    endpoint = FakeEndpoint()
    rev = await write_log(endpoint, "_local/x", {"session_id": "a"}, None)
    assert rev == "0-1"
    assert await read_log(endpoint, "_local/x") == ({"session_id": "a"}, "0-1")
    assert await write_log(endpoint, "_local/x", {"session_id": "b"}, rev) == "0-2"


@async_test
async def test_a_conflict_rereads_and_retries():
    endpoint = FakeEndpoint(steal=2)
    rev = await write_log(endpoint, "_local/x", {"session_id": "a"}, None)
    assert endpoint.puts == 3 and rev == "0-3"
    assert endpoint.docs["_local/x"]["session_id"] == "a"


@async_test
async def test_endless_conflicts_give_up():
    endpoint = FakeEndpoint(steal=100)
    with pytest.raises(Conflict):
        await write_log(endpoint, "_local/x", {"session_id": "a"}, None)
    assert endpoint.puts == 5
