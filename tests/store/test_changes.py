"""Tests for ``browsercouch.store.changes``: one ``_changes`` pass, its rows, where it ends and what is
pending, as CouchDB's ``fabric_rpc:changes/4`` counts them (the API's feeds and the local replication
endpoint both use it)."""

import asyncio

import pytest

from browsercouch.store import Couch, FeedEnd
from browsercouch.store.changes import DOC_IDS_FAST_PATH


@pytest.fixture
def db():
    couch = Couch(None)
    database = couch.create_db("db")
    # seq 1..6: a, b, c, _design/d, then a again (now at seq 5), then e deleted at seq 7.
    for doc in ({"_id": "a", "n": 1}, {"_id": "b", "n": 2}, {"_id": "c", "n": 3}, {"_id": "_design/d"}):
        database.put(doc)
    database.put({**database.get("a"), "n": 10})
    rev = database.put({"_id": "e"})["rev"]
    database.put({"_id": "e", "_rev": rev, "_deleted": True})
    yield database
    couch.close()


def one_pass(db, since=0, **options):
    """``(rows, FeedEnd)`` of a pass."""
    async def collect():
        return [item async for item in db.changes(since, **options)]
    items = asyncio.run(collect())
    assert isinstance(items[-1], FeedEnd) and not any(isinstance(i, FeedEnd) for i in items[:-1])
    return items[:-1], items[-1]


def ids(rows):
    return [(row["id"], row["seq"]) for row in rows]


def test_a_pass_sends_every_document_at_its_latest_change(db):
    rows, end = one_pass(db)
    assert ids(rows) == [("b", 2), ("c", 3), ("_design/d", 4), ("a", 5), ("e", 7)]
    assert rows[-1]["deleted"] is True and "deleted" not in rows[0]
    assert rows[3]["changes"] == [{"rev": db.get("a")["_rev"]}]
    assert end == FeedEnd(7, 0)


def test_limit_and_since_leave_the_rest_pending(db):
    rows, end = one_pass(db, 2, limit=2)
    assert ids(rows) == [("c", 3), ("_design/d", 4)] and end == FeedEnd(4, 2)
    assert one_pass(db, 7) == ([], FeedEnd(7, 0))
    # A limit of 0 reads nothing: the pass ends where it starts, with everything after it pending.
    assert one_pass(db, 2, limit=0) == ([], FeedEnd(2, 4))


def test_descending_starts_from_the_newest(db):
    rows, end = one_pass(db, descending=True, limit=2)
    assert ids(rows) == [("e", 7), ("a", 5)] and end == FeedEnd(5, 3)


def test_selections_and_what_couchdb_counts_as_pending(db):
    # Up to DOC_IDS_FAST_PATH ids CouchDB visits those documents only: the others stay pending.
    rows, end = one_pass(db, doc_ids=["c", "a", "zz"])
    assert ids(rows) == [("c", 3), ("a", 5)] and end == FeedEnd(7, 3)
    many = ["a"] + [f"x{i}" for i in range(DOC_IDS_FAST_PATH)]
    assert one_pass(db, doc_ids=many)[1] == FeedEnd(7, 0)
    rows, end = one_pass(db, design_only=True)
    assert ids(rows) == [("_design/d", 4)] and end == FeedEnd(7, 4)
    # Newest first, a visit of the matching documents only ends at the last one sent.
    assert one_pass(db, doc_ids=["c"], descending=True)[1] == FeedEnd(3, 4)
    rows, end = one_pass(db, selector={"n": {"$gt": 2}})
    assert ids(rows) == [("c", 3), ("a", 5)] and end == FeedEnd(7, 0)


def test_rows_carry_leaves_and_documents_when_asked(db):
    db.update_docs([{"_id": "b", "_rev": "2-" + "f" * 32, "_revisions": {"start": 2, "ids": ["f" * 32,
                    db.get("b")["_rev"][2:]]}, "n": 20}, {"_id": "b", "_rev": "2-" + "0" * 32,
                    "_revisions": {"start": 2, "ids": ["0" * 32, db.get("b")["_rev"][2:]]}}], new_edits=False)
    rows, _ = one_pass(db, 7, all_leaves=True, include_docs=True, doc_options={"conflicts": True})
    [row] = rows
    assert [change["rev"] for change in row["changes"]] == ["2-" + "f" * 32, "2-" + "0" * 32]
    assert row["doc"]["n"] == 20 and row["doc"]["_conflicts"] == ["2-" + "0" * 32]


def test_a_deleted_database_has_nothing_pending(db):
    db.close()
    assert one_pass(db, 0, limit=0)[1].pending == 0
