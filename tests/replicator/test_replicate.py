"""End-to-end replication across endpoints: every test runs for each source kind x target kind
(``local``, ``pipe``, ``uvicorn``; see ``peers.py``), as PouchDB's ``test.replication.js`` does.

Databases are compared with ``peers.snapshot``: every leaf with its full ``_revisions`` path and
attachment stubs (digests), the winner, ``_conflicts`` and ``_deleted_conflicts``.
"""

import asyncio

import pytest
from helpers import async_test

from browsercouch.errors import NotFound
from browsercouch.replicator import Replication, ReplicationOptions, replicate

from .peers import PAIRS, Counting, b64, open_peer, seed, snapshot, split_pair, wait_until


def leaf_count(db):
    return sum(len(entry["leaves"]) for entry in snapshot(db).values())


@pytest.mark.parametrize("pair", PAIRS)
@async_test
async def test_everything_arrives_identical(pair):
    """Documents, deletions, conflicts, attachments and awkward ids; a second run has nothing to do."""
    source_kind, target_kind = split_pair(pair)
    async with open_peer(source_kind) as src, open_peer(target_kind) as tgt:
        seed(src.db("source"), 260)
        result = await replicate(src.endpoint("source"), tgt.endpoint("target"),
                                 ReplicationOptions(create_target=True))
        assert snapshot(tgt.db("target")) == snapshot(src.db("source"))
        entry = result["history"][0]
        leaves = leaf_count(src.db("source"))
        assert (entry["docs_read"], entry["docs_written"], entry["doc_write_failures"]) == (leaves, leaves, 0)
        assert entry["missing_found"] == entry["missing_checked"] == leaves
        assert result["source_last_seq"] == src.db("source").update_seq
        again = await replicate(src.endpoint("source"), tgt.endpoint("target"))
        assert again.get("no_changes") is True and again["history"][0]["docs_read"] == 0
        assert [h["session_id"] for h in again["history"][:2]] == [again["session_id"], result["session_id"]]


@pytest.mark.parametrize("pair", PAIRS)
@async_test
async def test_concurrent_edits_converge_both_ways(pair):
    """Both sides edit and delete the same documents from the same revision; after push and pull both
    have the same trees, the same winner and the same conflicts."""
    source_kind, target_kind = split_pair(pair)
    async with open_peer(source_kind) as a, open_peer(target_kind) as b:
        seed(a.db("one"), 60)
        await replicate(a.endpoint("one"), b.endpoint("two"), ReplicationOptions(create_target=True))
        for side, db in (("a", a.db("one")), ("b", b.db("two"))):
            for doc_id, rev in list(db.all_docs()):
                n = int(doc_id.rsplit("-", 1)[1]) if doc_id.startswith("doc-") else 0
                if n % 3 == 0:
                    db.put({"_id": doc_id, "_rev": rev, "side": side})
                elif n % 3 == 1 and side == "a":
                    db.put({"_id": doc_id, "_rev": rev, "_deleted": True})
                elif n % 3 == 1:
                    db.put({"_id": doc_id, "_rev": rev, "survivor": True})
            db.put({"_id": f"only-{side}", "side": side})
        await replicate(a.endpoint("one"), b.endpoint("two"))
        await replicate(b.endpoint("two"), a.endpoint("one"))
        left, right = snapshot(a.db("one")), snapshot(b.db("two"))
        assert left == right
        assert sum(1 for e in left.values() if e["conflicts"]) > 10
        assert not left["doc-00001"]["deleted"] and left["doc-00001"]["deleted_conflicts"]


@pytest.mark.parametrize("target_kind", ["local", "pipe", "uvicorn"])
@async_test
async def test_only_missing_attachments_are_fetched(target_kind):
    """Editing a document that has a big attachment sends the attachment once, not on every edit:
    ``_bulk_get`` gets ``atts_since`` with the target's ancestors and answers with a stub."""
    counting = []

    def wrap(app):
        counting.append(Counting(app))
        return counting[0]

    async with open_peer("pipe", wrap=wrap) as src, open_peer(target_kind) as tgt:
        db = src.db("source")
        big = bytes(range(256)) * 800  # 200 KiB
        attachments = {"big.bin": {"content_type": "x/y", "data": b64(big)}}
        rev = db.put({"_id": "doc", "_attachments": attachments})["rev"]
        options = ReplicationOptions(create_target=True)
        await replicate(src.endpoint("source"), tgt.endpoint("target"), options)
        first = sum(r[3] for r in counting[0].paths("/_bulk_get"))
        assert first > len(big)
        counting[0].requests.clear()
        db.put({"_id": "doc", "_rev": rev, "_attachments": db.get("doc")["_attachments"], "edited": True})
        await replicate(src.endpoint("source"), tgt.endpoint("target"))
        assert sum(r[3] for r in counting[0].paths("/_bulk_get")) < 2_000
        assert not [r for r in counting[0].requests if r[1].endswith("/big.bin")]
        assert snapshot(tgt.db("target")) == snapshot(db)
        _, _, data = tgt.db("target").get_attachment("doc", "big.bin")
        assert data == big


@pytest.mark.parametrize("pair", PAIRS)
@async_test
async def test_resumes_from_checkpoint_after_a_kill(pair):
    """A job cancelled after some checkpoints resumes from the last one: the second run reads fewer
    documents than the whole database, and the target ends complete."""
    source_kind, target_kind = split_pair(pair)
    async with open_peer(source_kind) as src, open_peer(target_kind) as tgt:
        total = 1200
        for start in range(0, total, 200):
            src.db("source").update_docs([{"_id": f"d{i:05}", "n": i} for i in range(start, start + 200)])
        stop_at = 400

        def kill_when_far_enough(job):
            if (job.stats.checkpointed_source_seq or 0) >= stop_at:
                job.cancel()

        options = ReplicationOptions(create_target=True, batches_in_flight=2)
        job = Replication(src.endpoint("source"), tgt.endpoint("target"), options,
                          on_change=kill_when_far_enough).start()
        with pytest.raises(asyncio.CancelledError):
            await job.wait()
        assert job.state == "cancelled"
        first_read = job.stats.docs_read
        assert stop_at <= first_read < total
        result = await replicate(src.endpoint("source"), tgt.endpoint("target"))
        second_read = result["history"][0]["docs_read"]
        assert second_read < total and first_read + second_read <= total + 2 * 100
        assert result["history"][0]["start_last_seq"] >= stop_at
        assert snapshot(tgt.db("target")) == snapshot(src.db("source"))


@pytest.mark.parametrize("pair", PAIRS)
@async_test
async def test_continuous_picks_up_new_writes_until_cancelled(pair):
    source_kind, target_kind = split_pair(pair)
    async with open_peer(source_kind) as src, open_peer(target_kind) as tgt:
        source = src.db("source")
        seed(source, 30)
        job = Replication(src.endpoint("source"), tgt.endpoint("target"),
                          ReplicationOptions(continuous=True, create_target=True)).start()
        await wait_until(lambda: tgt.couch.exists("target"))
        await wait_until(lambda: snapshot(tgt.db("target")) == snapshot(source))
        for i in range(5):
            source.put({"_id": f"live-{i}", "n": i})
        rev = source.get("doc-00001")["_rev"]
        source.put({"_id": "doc-00001", "_rev": rev, "_deleted": True})
        await wait_until(lambda: snapshot(tgt.db("target")) == snapshot(source))
        assert job.state == "running"
        assert job.active_task()["docs_written"] == job.stats.docs_written >= 30
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job.wait()
        assert job.state == "cancelled"
        source.put({"_id": "after-cancel"})
        await asyncio.sleep(0.1)
        with pytest.raises(NotFound):
            tgt.db("target").get("after-cancel")


@pytest.mark.parametrize("pair", ["local->local", "pipe->local", "uvicorn->pipe", "local->uvicorn"])
@pytest.mark.parametrize("selection", [
    {"doc_ids": ["doc-00003", "doc-00004", "a/b", "missing"]},
    {"selector": {"n": {"$gte": 10, "$lt": 15}}},
], ids=["doc_ids", "selector"])
@async_test
async def test_filtered_replication(pair, selection):
    source_kind, target_kind = split_pair(pair)
    async with open_peer(source_kind) as src, open_peer(target_kind) as tgt:
        seed(src.db("source"), 40)
        options = ReplicationOptions(create_target=True, batch_size=5, **selection)
        result = await replicate(src.endpoint("source"), tgt.endpoint("target"), options)
        expected = {k: v for k, v in snapshot(src.db("source")).items() if _selected(k, v, selection)}
        assert snapshot(tgt.db("target")) == expected
        assert result["source_last_seq"] == src.db("source").update_seq
        # The filtered and the full replication keep separate checkpoints.
        full = await replicate(src.endpoint("source"), tgt.endpoint("target"))
        assert full["history"][0]["start_last_seq"] == 0


def _selected(doc_id, entry, selection):
    if "doc_ids" in selection:
        return doc_id in selection["doc_ids"]
    winner = next(leaf for leaf in entry["leaves"] if leaf["_rev"] == entry["winner"])
    return not entry["deleted"] and 10 <= winner.get("n", -1) < 15


@pytest.mark.parametrize("kind", ["local", "pipe"])
@async_test
async def test_missing_target_fails_unless_created(kind):
    async with open_peer("local") as src, open_peer(kind) as tgt:
        src.db("source").put({"_id": "x"})
        job = Replication(src.endpoint("source"), tgt.endpoint("nope")).start()
        with pytest.raises(Exception) as caught:
            await job.wait()
        assert job.state == "failed" and job.attempts == 1
        assert "target" in job.error and "create_target" in str(caught.value)
        assert not tgt.couch.exists("nope")


@async_test
async def test_a_checkpoint_never_gets_ahead_of_what_the_target_persisted():
    """In the browser a commit is durable only once the page saved it (``Couch(flush=...)``): a checkpoint
    recorded on the source before the target's documents were saved would, after a crash that lost them,
    let the next run skip them for good (issue 14: a browser killed mid-pull). Each checkpoint the source
    records comes after a flush of the target that it asked for."""
    from browsercouch.replicator import LocalEndpoint
    from browsercouch.store import Couch

    events = []

    async def flush():
        events.append("flush")

    source, target = Couch(), Couch(flush=flush)
    seed(source.create_db("source"), 450)
    source.on_change = lambda path: events.append("checkpoint")
    await replicate(LocalEndpoint(source, "source"), LocalEndpoint(target, "target"),
                    ReplicationOptions(create_target=True, batch_size=100))
    assert events.count("checkpoint") >= 2, events
    checkpoints = [at for at, event in enumerate(events) if event == "checkpoint"]
    for before, at in zip([-1, *checkpoints], checkpoints, strict=False):
        assert "flush" in events[before + 1:at], events
