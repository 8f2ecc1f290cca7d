"""Tests for ``browsercouch.store.uploads``: a large attachment body committed in parts as it arrives,
over real SQLite files (and ``:memory:``), linked to its digest only by the document's write."""

import base64
import gzip
import hashlib
import os
import sqlite3
import zlib
from contextlib import closing

import pytest

from browsercouch.errors import BadRequest, Conflict, NotFound
from browsercouch.store import Couch
from browsercouch.store.encodings import Body
from browsercouch.store.uploads import PART_SIZE

BIG = os.urandom(3 * PART_SIZE + 12345)
# Text that gzip cannot shrink much (random letters): still several parts once encoded.
BIG_TEXT = base64.b64encode(os.urandom(4 * PART_SIZE))


def digest(data):
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()


def couchdb_gzip(data):
    """The gzip stream CouchDB 3.x stores for ``data`` of a compressible type (level 8)."""
    compressor = zlib.compressobj(8, zlib.DEFLATED, 31, 8)
    return compressor.compress(data) + compressor.flush()


def stream(db, data, piece=64 * 1024, content_type="application/octet-stream", encoding=None):
    """``(upload, upload.finish())`` for ``data`` written ``piece`` bytes at a time."""
    upload = db.attachment_upload(content_type, encoding)
    for start in range(0, len(data), piece):
        upload.write(data[start:start + piece])
    return upload, upload.finish()


def count(db, table):
    return db._storage.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture(params=["file", "memory"])
def db(request, tmp_path):
    couch = Couch(tmp_path / "data" if request.param == "file" else None)
    yield couch.create_db("db")
    couch.close()


def test_a_large_body_is_stored_in_parts_and_read_back_whole(db):
    upload, data = stream(db, BIG)
    assert data == Body(digest(BIG), len(BIG), None, len(BIG), upload=data.upload)
    assert count(db, "attachment_parts") == 4 and count(db, "streamed_attachments") == 0
    rev = db.put_attachment("doc", "big.bin", None, "application/x-big", data, upload)["rev"]
    stub, body = db.get_attachment("doc", "big.bin")[1:]
    assert body == BIG
    assert stub["digest"] == digest(BIG) and stub["length"] == len(BIG) and rev.startswith("1-")
    assert db.get("doc", attachments=True)["_attachments"]["big.bin"]["data"] == \
        base64.b64encode(BIG).decode()


def test_each_part_is_committed_as_it_arrives(db):
    """What lets the tab save earlier parts while later ones arrive: a commit per part, before finish()."""
    commits = []
    db._storage.on_commit = lambda: commits.append(count(db, "attachment_parts"))
    upload = db.attachment_upload("application/octet-stream")
    for start in range(0, len(BIG), PART_SIZE // 2):
        upload.write(BIG[start:start + PART_SIZE // 2])
    assert commits == [1, 2, 3]
    db.put_attachment("doc", "big.bin", None, "application/octet-stream", upload.finish(), upload)
    assert commits == [1, 2, 3, 4, 4]


def test_a_body_smaller_than_a_part_is_plain_bytes(db):
    upload, data = stream(db, b"small" * 100, content_type="text/plain")
    assert data.data == couchdb_gzip(b"small" * 100) and data.upload is None
    db.put_attachment("doc", "small.txt", None, "text/plain", data, upload)
    assert count(db, "attachment_parts") == 0
    assert db.get_attachment("doc", "small.txt")[2] == b"small" * 100


def test_a_large_text_body_is_gzipped_as_it_arrives_with_couchdbs_digest(db):
    upload, data = stream(db, BIG_TEXT, content_type="text/plain; charset=utf-8")
    encoded = couchdb_gzip(BIG_TEXT)
    assert data == Body(digest(encoded), len(BIG_TEXT), "gzip", len(encoded), upload=data.upload)
    parts = db._storage.conn.execute("SELECT data FROM attachment_parts ORDER BY part").fetchall()
    assert len(parts) >= 3 and b"".join(part for part, in parts) == encoded
    db.put_attachment("doc", "big.txt", None, "text/plain; charset=utf-8", data, upload)
    _, stub, body = db.get_attachment("doc", "big.txt")
    assert body == BIG_TEXT and stub["encoding"] == "gzip" and stub["encoded_length"] == len(encoded)
    assert db.get_attachment("doc", "big.txt", encoded=True)[2] == encoded


def test_a_gzip_body_is_stored_as_sent_and_checked(db):
    sent = gzip.compress(BIG, compresslevel=1)
    upload, data = stream(db, sent, encoding="gzip")
    assert data == Body(digest(sent), len(BIG), "gzip", len(sent), upload=data.upload)
    db.put_attachment("doc", "big.bin", None, "application/octet-stream", data, upload)
    assert db.get_attachment("doc", "big.bin")[2] == BIG
    with pytest.raises(BadRequest, match="not a complete gzip stream"):
        stream(db, sent[:-100], encoding="gzip")
    with pytest.raises(BadRequest, match="not a valid gzip stream"):
        stream(db, b"plain bytes", encoding="gzip")


def test_the_same_bytes_are_stored_once(db):
    for doc_id in ("one", "two"):
        upload, data = stream(db, BIG)
        db.put_attachment(doc_id, "big.bin", None, "application/octet-stream", data, upload)
    assert count(db, "attachment_parts") == 4 and count(db, "streamed_attachments") == 1
    assert db.get_attachment("two", "big.bin")[2] == BIG
    inline = {"_id": "three", "_attachments": {"big.bin": {"data": base64.b64encode(BIG).decode()}}}
    db.put(inline)
    assert count(db, "attachments") == 0  # the inline copy has the streamed one's digest


def test_a_refused_write_drops_its_parts(db):
    upload, data = stream(db, BIG)
    db.put_attachment("doc", "first.bin", None, "application/octet-stream", data, upload)
    upload, data = stream(db, BIG[::-1])
    with pytest.raises(Conflict):
        db.put_attachment("doc", "second.bin", "1-" + "0" * 32, "application/octet-stream", data, upload)
    assert count(db, "attachment_parts") == 4
    assert db.get_attachment("doc", "first.bin")[2] == BIG


def test_compaction_drops_the_parts_no_revision_refers_to(db):
    upload, data = stream(db, BIG)
    rev = db.put_attachment("doc", "big.bin", None, "application/octet-stream", data, upload)["rev"]
    db.delete_attachment("doc", "big.bin", rev)
    db.compact()
    assert count(db, "attachment_parts") == 0 and count(db, "streamed_attachments") == 0


def test_parts_of_an_upload_cut_short_are_dropped_at_the_next_open(tmp_path):
    couch = Couch(tmp_path)
    db = couch.create_db("db")
    kept, data = stream(db, BIG)
    db.put_attachment("doc", "kept.bin", None, "application/octet-stream", data, kept)
    cut = db.attachment_upload("application/octet-stream")
    cut.write(BIG[:PART_SIZE])
    cut.write(BIG[PART_SIZE:2 * PART_SIZE])  # the server stops here: two parts committed, never linked
    path = db._storage.path
    couch.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM attachment_parts").fetchone()[0] == 6

    couch = Couch(tmp_path)
    db = couch.get_db("db")
    assert count(db, "attachment_parts") == 4
    assert db.get_attachment("doc", "kept.bin")[2] == BIG
    upload, data = stream(db, BIG[::-1])  # new uploads get numbers no stored part has
    db.put_attachment("doc2", "new.bin", None, "application/octet-stream", data, upload)
    assert db.get_attachment("doc2", "new.bin")[2] == BIG[::-1]
    assert db.get_attachment("doc", "kept.bin")[2] == BIG
    couch.close()


@pytest.mark.parametrize("data_dir", ["file", "memory"])
def test_a_database_deleted_mid_upload_is_not_found(tmp_path, data_dir):
    """CouchDB answers a write to a deleted database with 404; the parts went with the database."""
    couch = Couch(tmp_path if data_dir == "file" else None)
    upload = couch.create_db("db").attachment_upload("application/octet-stream")
    upload.write(BIG[:PART_SIZE])
    couch.delete_db("db")
    with pytest.raises(NotFound, match="Database does not exist"):
        upload.write(BIG[PART_SIZE:2 * PART_SIZE])
    upload.discard()
    couch.close()
