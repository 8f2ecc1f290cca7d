"""Tests for ``browsercouch.store.couch``: the set of databases in a data directory or in memory.

Persistence is tested the hard way: write through one ``Couch``, close it, open a new one on the same
directory and compare everything a client can see.
"""

import base64
import json
import os
import re
import sqlite3

import pytest

from browsercouch.errors import FileExists, IllegalDatabaseName, NotFound
from browsercouch.store import Couch, revtree, validate_db_name


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture(params=["file", "memory"])
def couch(request, data_dir):
    server = Couch(data_dir if request.param == "file" else None)
    yield server
    server.close()


# couch_db:validate_dbname/1: ^[a-z][a-z0-9_$()+/-]*$, plus the system databases.
VALID_NAMES = ["a", "db", "a1", "a_$()+-/", "with/slash", "_users", "_replicator", "_global_changes",
               "a" * 238]
INVALID_NAMES = ["", "A", "Db", "1a", "_a", "_design", "a b", "a.b", "a@b", "é", "-a", "$a", "a\n",
                 "a" * 239]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_database_names(name):
    validate_db_name(name)


@pytest.mark.parametrize("name", INVALID_NAMES + [None, 5])
def test_invalid_database_names(name):
    with pytest.raises(IllegalDatabaseName) as err:
        validate_db_name(name)
    assert (err.value.status, err.value.error) == (400, "illegal_database_name")


def test_create_get_delete(couch):
    assert couch.all_dbs() == []
    db = couch.create_db("b")
    couch.create_db("a/c")
    couch.create_db("a")
    assert couch.all_dbs() == ["a", "a/c", "b"]
    assert couch.exists("b") and couch.get_db("b") is db and db.name == "b"
    with pytest.raises(FileExists) as err:
        couch.create_db("b")
    assert (err.value.status, err.value.error) == (412, "file_exists")
    with pytest.raises(IllegalDatabaseName):
        couch.create_db("Nope")
    couch.delete_db("b")
    assert couch.all_dbs() == ["a", "a/c"] and not couch.exists("b") and db.closed
    with pytest.raises(NotFound) as err:
        couch.get_db("b")
    assert err.value.reason == "Database does not exist."
    with pytest.raises(NotFound):
        couch.delete_db("b")


# The longest name, with as many "/" as can be: escaped as "%2F" its file name would pass 255 bytes.
LONGEST_SLASHED = "a" + "/" * 231 + "z" * 6


@pytest.mark.parametrize("name", [LONGEST_SLASHED, "a" + "/$()+-_" * 33 + "z" * 6, "a" * 238, "a/" * 60])
def test_the_longest_names_with_slashes_are_kept(data_dir, name):
    couch = Couch(data_dir)
    couch.create_db(name).put({"_id": "kept"})
    couch.close()
    couch = Couch(data_dir)
    assert couch.all_dbs() == [name] and couch.get_db(name).get("kept")["_id"] == "kept"
    couch.delete_db(name)
    couch.close()
    assert [f for f in os.listdir(data_dir) if f.endswith(".couch")] == []


def test_a_database_whose_file_cannot_be_made_is_not_listed(data_dir):
    couch = Couch(data_dir)
    (data_dir / "blocked.couch").mkdir()  # SQLite cannot open a directory
    with pytest.raises(sqlite3.OperationalError):
        couch.create_db("blocked")
    assert couch.all_dbs() == [] and not couch.exists("blocked")
    couch.close()


def test_a_recreated_database_starts_empty(couch):
    db = couch.create_db("db")
    db.put({"_id": "a"})
    db.set_revs_limit(5)
    couch.delete_db("db")
    db = couch.create_db("db")
    assert (db.update_seq, db.doc_count, db.revs_limit) == (0, 0, revtree.DEFAULT_REVS_LIMIT)
    assert list(db.change_rows()) == []


def test_databases_are_independent(couch):
    one, two = couch.create_db("one"), couch.create_db("two")
    one.put({"_id": "a"})
    assert two.update_seq == 0 and two.lookup("a") is None


def test_deleting_a_database_removes_its_files(data_dir):
    couch = Couch(data_dir)
    db = couch.create_db("a/b")
    couch.create_db("keep")
    db.put({"_id": "doc", "pad": "x" * 10_000})
    files = set(os.listdir(data_dir))
    assert {"a%2Fb.couch", "keep.couch", "_config.json"} <= files
    assert "a%2Fb.couch-wal" in files  # WAL mode: the write is in the log until a checkpoint
    couch.delete_db("a/b")
    assert not [f for f in os.listdir(data_dir) if f.startswith("a%2Fb")]
    assert "keep.couch" in os.listdir(data_dir)
    couch.close()
    assert Couch(data_dir).all_dbs() == ["keep"]


def test_everything_persists_across_reopen(data_dir):
    couch = Couch(data_dir)
    uuid = couch.uuid
    db = couch.create_db("db/one")
    couch.create_db("empty")
    db.set_revs_limit(7)
    db.set_security({"members": {"names": ["ann"], "roles": []}})
    hi = base64.b64encode(b"hi").decode()
    rev = db.put({"_id": "a", "v": 1, "_attachments": {"t": {"data": hi}}})["rev"]
    rev = db.put({"_id": "a", "_rev": rev, "v": 2, "_attachments": {"t": {"stub": True}}})["rev"]
    db.put({"_id": "b"})
    db.put({"_id": "b", "_rev": db.get("b")["_rev"], "_deleted": True})
    db.update_docs([
        {"_id": "c", "_rev": "2-" + "c" * 32, "_revisions": {"start": 2, "ids": ["c" * 32, "a" * 32]}},
        {"_id": "c", "_rev": "2-" + "d" * 32, "_revisions": {"start": 2, "ids": ["d" * 32, "a" * 32]}},
    ], new_edits=False)
    db.put({"_id": "_local/check", "seq": 5})
    before = snapshot(db)
    couch.close()

    couch = Couch(data_dir)
    assert couch.uuid == uuid and couch.all_dbs() == ["db/one", "empty"]
    db = couch.get_db("db/one")
    assert snapshot(db) == before
    assert (db.update_seq, db.doc_count, db.doc_del_count) == (5, 2, 1)
    assert db.get_attachment("a", "t")[2] == b"hi" and db.get("a")["_rev"] == rev
    # New writes continue the sequence.
    db.put({"_id": "d"})
    assert [seq for _, seq, *_ in db.change_rows(5)] == [6]
    couch.close()


def snapshot(db):
    """Everything a client could read from ``db``."""
    return {
        "info": {k: v for k, v in db.info().items() if k != "sizes"},
        "revs_limit": db.revs_limit,
        "security": db.security,
        "changes": [(doc_id, seq, winner, deleted, sorted(revtree.collect_leaves(tree)))
                    for doc_id, seq, winner, deleted, tree in db.change_rows()],
        "all_docs": list(db.all_docs()),
        "docs": {doc_id: db.open_revs(doc_id, "all", revs=True, attachments=True)
                 for doc_id, *_ in db.change_rows()},
        "local": db._storage.list_local(),
        "local_docs": [db.get(doc_id) for doc_id, _ in db._storage.list_local()],
    }


def test_the_uuid_is_stable_and_the_config_is_written_atomically(data_dir):
    first = Couch(data_dir)
    assert re.match(r"^[0-9a-f]{32}$", first.uuid)
    first.close()
    with open(data_dir / "_config.json") as f:
        config = json.load(f)
    assert config["uuid"] == first.uuid and len(config["secret"]) == 64
    assert Couch(data_dir).uuid == first.uuid
    assert not [f for f in os.listdir(data_dir) if f.endswith(".tmp")]
    assert Couch(data_dir.parent / "other").uuid != first.uuid
    assert Couch(None).uuid != Couch(None).uuid


def test_files_that_are_not_databases_are_ignored(data_dir):
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("hello")
    (data_dir / "db.couch-wal").write_bytes(b"")
    assert Couch(data_dir).all_dbs() == []
