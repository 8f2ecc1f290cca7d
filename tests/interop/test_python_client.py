"""pycouchdb, a Python CouchDB client, does CRUD, _all_docs and attachments against the server.

Runs against browsercouch and against pouchdb-server 4.2.0 (``couch_url``), so every assertion here is
checked on a reference CouchDB-compatible server too.
"""

import base64
import hashlib
import secrets

import pycouchdb
import pytest
from pycouchdb import exceptions


@pytest.fixture
def db(couch_url):
    server = pycouchdb.Server(couch_url)
    name = f"pycouchdb-{secrets.token_hex(6)}"
    database = server.create(name)
    yield database
    server.delete(name)


def test_server_info(couch_url):
    info = pycouchdb.Server(couch_url).info()
    assert "version" in info


def test_crud(db):
    doc = db.save({"_id": "a", "n": 1})
    assert doc["_rev"].startswith("1-")
    assert db.get("a") == {"_id": "a", "_rev": doc["_rev"], "n": 1}
    updated = db.save({**doc, "n": 2})
    assert updated["_rev"].startswith("2-")
    with pytest.raises(exceptions.Conflict):
        db.save({**doc, "n": 3})  # stale rev
    db.delete(updated)
    with pytest.raises(exceptions.NotFound):
        db.get("a")
    assert "a" not in db


def test_bulk_and_all_docs(db):
    saved = db.save_bulk([{"_id": f"doc-{i:03d}", "n": i} for i in range(50)])
    assert all(doc["_rev"].startswith("1-") for doc in saved)
    rows = db.all(as_list=True)
    assert [row["id"] for row in rows] == [f"doc-{i:03d}" for i in range(50)]
    assert [row["doc"]["n"] for row in rows] == list(range(50))
    assert len(db) == 50
    some = db.all(keys=["doc-007", "doc-003"], as_list=True)
    assert [row["doc"]["n"] for row in some] == [7, 3]
    db.delete_bulk([saved[0], saved[1]])
    assert len(db) == 48


def test_attachments(db):
    data = secrets.token_bytes(64 * 1024)
    doc = db.save({"_id": "with-att"})
    doc = db.put_attachment(doc, data, filename="blob.bin", content_type="application/octet-stream")
    stub = doc["_attachments"]["blob.bin"]
    assert stub["stub"] is True
    assert stub["length"] == len(data)
    assert stub["content_type"] == "application/octet-stream"
    assert stub["digest"] == "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()
    assert db.get_attachment(doc, "blob.bin") == data
    doc = db.delete_attachment(doc, "blob.bin")
    assert "_attachments" not in db.get("with-att")
    assert doc["_rev"].startswith("3-")
