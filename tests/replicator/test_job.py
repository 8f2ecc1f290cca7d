"""``replicator.job.Replication``: retries with back-off, clear failures, cancel, and the shapes the API
shows in ``_active_tasks`` and ``_scheduler/jobs``. Peers are local stores; a wrapper makes one flaky."""

import asyncio

import pytest
from helpers import async_test

from browsercouch.errors import BadRequest, Forbidden, InternalError, Unauthorized
from browsercouch.replicator import (
    PeerUnavailable,
    Replication,
    ReplicationError,
    ReplicationOptions,
    replication_id,
)

from .peers import FAST_BACKOFF, open_peer, snapshot


class Flaky:
    """Wraps an endpoint; ``method`` raises ``make_error()`` its next ``times`` calls."""

    def __init__(self, endpoint, method, times, make_error):
        self._endpoint, self._method, self.times, self._make_error = endpoint, method, times, make_error
        self.name = endpoint.name

    def __getattr__(self, name):
        attribute = getattr(self._endpoint, name)
        if name != self._method:
            return attribute

        async def failing(*args, **kwargs):
            if self.times > 0:
                self.times -= 1
                raise self._make_error()
            return await attribute(*args, **kwargs)

        return failing


def peer_error(cls, reason, name):
    err = cls(reason)
    err.peer = name
    return err


async def seeded(peer, count=250):
    peer.db("source").update_docs([{"_id": f"d{i:04}", "n": i} for i in range(count)])


@async_test
async def test_transient_failures_are_retried_and_the_job_completes():
    async with open_peer("local") as peer:
        await seeded(peer)
        target = peer.endpoint("target")
        flaky = Flaky(target, "bulk_docs", 2, lambda: peer_error(PeerUnavailable, "connection refused",
                                                                 target.name))
        changes = []
        job = Replication(peer.endpoint("source"), flaky,
                          ReplicationOptions(create_target=True, backoff=FAST_BACKOFF, batches_in_flight=1),
                          on_change=lambda j: changes.append(j.state)).start()
        result = await job.wait()
        assert job.state == "completed" and job.attempts == 3 and result["ok"]
        assert snapshot(peer.db("target")) == snapshot(peer.db("source"))
        assert "crashing" in changes and changes[-1] == "completed"
        kinds = [event["type"] for event in reversed(job.scheduler_job()["history"])]
        assert kinds == ["added", "started", "crashed", "started", "crashed", "started", "completed"]
        assert job.error and "connection refused" in job.error  # the last failure stays visible


@async_test
async def test_persistent_failures_give_up_with_a_clear_message():
    async with open_peer("local") as peer:
        await seeded(peer, 10)
        source = peer.endpoint("source")
        flaky = Flaky(source, "changes", 100, lambda: peer_error(InternalError, "boom", source.name))
        job = Replication(flaky, peer.endpoint("target"),
                          ReplicationOptions(create_target=True, retries=2, backoff=FAST_BACKOFF)).start()
        with pytest.raises(ReplicationError) as caught:
            await job.wait()
        assert job.state == "failed" and job.attempts == 3
        assert job.error == str(caught.value) == (
            "gave up after 3 failed attempts in a row; last: source local database source: "
            "500 internal_server_error: boom")
        assert caught.value.status == 500 and isinstance(caught.value.cause, InternalError)


@pytest.mark.parametrize("cls", [Unauthorized, Forbidden, BadRequest])
@async_test
async def test_refusals_stop_at_once(cls):
    async with open_peer("local") as peer:
        await seeded(peer, 10)
        target = peer.endpoint("target")
        flaky = Flaky(target, "revs_diff", 100, lambda: peer_error(cls, "no", target.name))
        job = Replication(peer.endpoint("source"), flaky,
                          ReplicationOptions(create_target=True, backoff=FAST_BACKOFF)).start()
        with pytest.raises(ReplicationError):
            await job.wait()
        assert job.attempts == 1 and job.state == "failed"
        assert job.error.startswith("target local database target")
        assert ("refused access" in job.error) == (cls is not BadRequest)


@async_test
async def test_progress_resets_the_failure_count():
    """Five failures in a row would exceed retries=2, but each attempt gets a checkpoint further."""
    async with open_peer("local") as peer:
        await seeded(peer, 600)
        target = peer.endpoint("target")

        class FailsAfterProgress(Flaky):
            calls = 0

            def __getattr__(self, name):
                if name != "bulk_docs":
                    return getattr(self._endpoint, name)

                async def bulk_docs(docs):
                    FailsAfterProgress.calls += 1
                    if FailsAfterProgress.calls in (2, 4, 6, 8, 10):
                        raise peer_error(PeerUnavailable, "flap", target.name)
                    return await self._endpoint.bulk_docs(docs)

                return bulk_docs

        options = ReplicationOptions(create_target=True, retries=2, backoff=FAST_BACKOFF, batches_in_flight=1)
        job = Replication(peer.endpoint("source"), FailsAfterProgress(target, "", 0, None), options).start()
        await job.wait()
        assert job.state == "completed" and job.attempts == 6


@async_test
async def test_cancel_before_and_after_start():
    async with open_peer("local") as peer:
        await seeded(peer, 5)
        job = Replication(peer.endpoint("source"), peer.endpoint("target"))
        job.cancel()
        assert job.state == "cancelled" and job.done
        with pytest.raises(RuntimeError):
            await job.wait()
        running = Replication(peer.endpoint("source"), peer.endpoint("target"),
                              ReplicationOptions(continuous=True, create_target=True)).start()
        with pytest.raises(RuntimeError):
            running.start()
        await asyncio.sleep(0.05)
        running.cancel()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running.wait()
        assert running.state == "cancelled"


@async_test
async def test_status_active_task_and_scheduler_job_shapes():
    async with open_peer("local") as peer:
        await seeded(peer, 120)
        job = Replication(peer.endpoint("source"), peer.endpoint("target"),
                          ReplicationOptions(create_target=True, continuous=True),
                          doc_id="my-rep", database="_replicator", user="bob")
        expected_id = await job.resolve_id()
        assert expected_id == replication_id(f"{peer.couch.uuid}/source", f"{peer.couch.uuid}/target") + \
            "+continuous+create_target"
        job.start()
        await _until(lambda: job.stats.docs_written == 120 and job.stats.checkpointed_source_seq == 120)
        task = job.active_task()
        assert task["type"] == "replication" and task["replication_id"] == expected_id
        assert {k: task[k] for k in ("doc_id", "database", "user", "continuous", "source", "target")} == {
            "doc_id": "my-rep", "database": "_replicator", "user": "bob", "continuous": True,
            "source": "local database source", "target": "local database target"}
        assert {k: task[k] for k in ("docs_read", "docs_written", "doc_write_failures", "revisions_checked",
                                     "missing_revisions_found", "changes_pending", "through_seq",
                                     "checkpointed_source_seq")} == {
            "docs_read": 120, "docs_written": 120, "doc_write_failures": 0, "revisions_checked": 120,
            "missing_revisions_found": 120, "changes_pending": 0, "through_seq": 120,
            "checkpointed_source_seq": 120}
        assert isinstance(task["started_on"], int) and task["updated_on"] >= task["started_on"]
        row = job.scheduler_job()
        assert row["id"] == expected_id and row["doc_id"] == "my-rep" and row["info"]["docs_written"] == 120
        assert row["start_time"].endswith("Z") and row["history"][0]["type"] == "started"
        status = job.status()
        assert (status["state"], status["stats"]["docs_read"], status["error"]) == ("running", 120, None)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job.wait()


@async_test
async def test_a_bug_fails_the_job_instead_of_hanging():
    async with open_peer("local") as peer:
        await seeded(peer, 5)
        flaky = Flaky(peer.endpoint("target"), "revs_diff", 1, lambda: KeyError("oops"))
        job = Replication(peer.endpoint("source"), flaky, ReplicationOptions(create_target=True)).start()
        with pytest.raises(KeyError):
            await job.wait()
        assert job.state == "failed" and "KeyError" in job.error


def test_options_from_a_replicate_body():
    options = ReplicationOptions.from_json({
        "source": "a", "target": "b", "continuous": True, "create_target": True, "since_seq": 5,
        "worker_batch_size": 50, "worker_processes": 2, "selector": {"x": 1}, "use_checkpoints": True})
    assert (options.continuous, options.create_target, options.since, options.batch_size,
            options.batches_in_flight, options.selector) == (True, True, 5, 50, 2, {"x": 1})
    for body in ({"continuous": "yes"}, {"doc_ids": "a"}, {"doc_ids": ["a"], "selector": {}},
                 {"worker_batch_size": 0}, {"query_params": []}):
        with pytest.raises(BadRequest):
            ReplicationOptions.from_json(body)


async def _until(predicate, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
