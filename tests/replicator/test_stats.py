"""The counters of a replication that was cut off (issue 12): a ``_bulk_docs`` whose answer is lost after
the target stored the documents (a bridge killed mid-replication) still counts those documents as written
once the next attempt finds them on the target; one whose documents did not arrive counts them once, when
they are written. In the final history record docs_read = docs_written + doc_write_failures = the
documents that arrived, and every revision is checked once."""

import pytest
from helpers import async_test

from browsercouch.replicator import PeerUnavailable, Replication, ReplicationOptions

from .peers import FAST_BACKOFF, open_peer, snapshot

DOCS = 500
BATCHES_IN_FLIGHT = 4


class LosesAnswers:
    """A target whose ``bulk_docs`` fails its next ``times`` calls, storing the documents first when
    ``stored`` (the answer is lost on the way back) and not at all otherwise (the request is)."""

    def __init__(self, endpoint, times, *, stored):
        self._endpoint, self.times, self.stored = endpoint, times, stored
        self.name = endpoint.name

    def __getattr__(self, name):
        return getattr(self._endpoint, name)

    async def bulk_docs(self, docs):
        if self.times <= 0:
            return await self._endpoint.bulk_docs(docs)
        self.times -= 1
        if self.stored:
            await self._endpoint.bulk_docs(docs)
        error = PeerUnavailable("the connection was closed")
        error.peer = self.name
        raise error


@pytest.mark.parametrize("stored", [True, False], ids=["answer-lost", "request-lost"])
@async_test
async def test_a_cut_off_bulk_docs_is_counted_once(stored):
    async with open_peer("local") as peer:
        peer.db("source").update_docs([{"_id": f"d{i:04}", "n": i} for i in range(DOCS)])
        target = LosesAnswers(peer.endpoint("target"), BATCHES_IN_FLIGHT, stored=stored)
        job = Replication(peer.endpoint("source"), target,
                          ReplicationOptions(create_target=True, backoff=FAST_BACKOFF,
                                             batches_in_flight=BATCHES_IN_FLIGHT)).start()
        result = await job.wait()
        assert job.attempts > 1
        assert snapshot(peer.db("target")) == snapshot(peer.db("source"))
        record = result["history"][0]
        assert (record["docs_read"], record["docs_written"], record["doc_write_failures"]) == (DOCS, DOCS, 0)
        assert (record["missing_checked"], record["missing_found"]) == (DOCS, DOCS)
        assert job.status()["stats"]["docs_written"] == DOCS
