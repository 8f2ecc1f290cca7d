"""Attachments (``api/attachments.py`` and inline ``_attachments``): base64 in documents, stubs, the
standalone resource with ETags, byte ranges and gzip content encoding as CouchDB 3.4.3 answers."""

import base64
import gzip
import hashlib
import os
import zlib

import pytest

from browsercouch.api import CouchApp, multipart
from browsercouch.store import Couch
from browsercouch.store.uploads import PART_SIZE

from .util import call_app, expect_error, expect_json

DATA = b"hello attachment world"


def _digest(data):
    # CouchDB's attachment digest: "md5-" + base64 of the raw md5 (DESIGN.md section 3).
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()


def _gzipped(data):
    """What CouchDB stores for ``data`` of a compressible type: its level-8 gzip stream."""
    compressor = zlib.compressobj(8, zlib.DEFLATED, 31, 8)
    return compressor.compress(data) + compressor.flush()


def _b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture
def with_att(client, db):
    """``db`` with ``doc`` holding ``a.txt`` (DATA, text/plain); returns ``(db, rev)``."""
    doc = {"_attachments": {"a.txt": {"content_type": "text/plain", "data": _b64(DATA)}}}
    rev = client.put(f"/{db}/doc", json=doc).json()["rev"]
    return db, rev


@pytest.fixture
def with_bin(client, db):
    """``db`` with ``doc`` holding ``a.bin`` (DATA, a type stored as it is); returns ``(db, rev)``."""
    doc = {"_attachments": {"a.bin": {"content_type": "image/x-test", "data": _b64(DATA)}}}
    rev = client.put(f"/{db}/doc", json=doc).json()["rev"]
    return db, rev


def test_inline_attachment_becomes_a_stub(client, with_att):
    db, rev = with_att
    stub = client.get(f"/{db}/doc").json()["_attachments"]["a.txt"]
    assert stub == {"content_type": "text/plain", "digest": _digest(_gzipped(DATA)), "length": len(DATA),
                    "revpos": 1, "stub": True}
    stub = client.get(f"/{db}/doc?att_encoding_info=true").json()["_attachments"]["a.txt"]
    assert (stub["encoding"], stub["encoded_length"]) == ("gzip", len(_gzipped(DATA)))


def test_attachments_true_inlines_data(client, with_att):
    db, _ = with_att
    att = client.get(f"/{db}/doc?attachments=true").json()["_attachments"]["a.txt"]
    assert base64.b64decode(att["data"]) == DATA
    assert att == {"content_type": "text/plain", "revpos": 1, "digest": _digest(_gzipped(DATA)),
                   "data": _b64(DATA)}


def test_get_attachment(client, with_bin):
    db, rev = with_bin
    response = client.get(f"/{db}/doc/a.bin")
    assert response.status == 200 and response.body == DATA
    assert response.header("content-type") == "image/x-test"
    assert response.header("etag") == '"' + _digest(DATA)[4:] + '"'
    assert response.header("accept-ranges") == "bytes"
    assert client.get(f"/{db}/doc/a.bin?rev={rev}").body == DATA
    head = client.head(f"/{db}/doc/a.bin")
    assert head.status == 200 and head.body == b""
    assert head.header("content-length") == str(len(DATA))


def test_a_gzip_stored_attachment_is_decoded_unless_gzip_is_accepted(client, with_att):
    """chttpd_db:db_attachment_req/4: stored encoded, sent encoded only to a client that accepts it; never
    in ranges (Accept-Ranges: none, a Range header is ignored)."""
    db, _ = with_att
    for headers in ({}, {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0"},
                    {"Range": "bytes=0-4"}):
        response = client.get(f"/{db}/doc/a.txt", headers=headers)
        assert (response.status, response.body) == (200, DATA), headers
        assert response.header("content-encoding") is None and response.header("accept-ranges") == "none"
        assert response.header("etag") == '"' + _digest(_gzipped(DATA))[4:] + '"'
    for accepted in ("gzip", "deflate, gzip;q=0.5", "*"):
        response = client.get(f"/{db}/doc/a.txt", headers={"Accept-Encoding": accepted})
        assert response.body == _gzipped(DATA) and response.header("content-encoding") == "gzip"


def test_attachment_names_starting_with_underscore_are_refused(client, db):
    """CouchDB 3.4.3 refuses them on every write, the whole _bulk_docs request included, in both modes."""
    reason = "Attachment name '_x' starts with prohibited character '_'"
    expect_error(client.put(f"/{db}/doc/_x", body=b"a"), 400, "bad_request", reason)
    doc = {"_id": "d", "_attachments": {"_x": {"data": _b64(b"hi")}}}
    expect_error(client.put(f"/{db}/d", json=doc), 400, "bad_request", reason)
    for new_edits, extra in ((True, {}), (False, {"_rev": "1-a"})):
        body = {"new_edits": new_edits, "docs": [{"_id": "ok", **extra}, {**doc, **extra}]}
        expect_error(client.post(f"/{db}/_bulk_docs", json=body), 400, "bad_request", reason)
    expect_error(client.delete(f"/{db}/doc/_x?rev=1-a"), 400, "bad_request")
    expect_error(client.get(f"/{db}/ok"), 404, "not_found")


def test_a_gzip_upload_is_stored_as_sent(client, db):
    sent = gzip.compress(b"<p>x</p>" * 100)
    response = client.put(f"/{db}/doc/a.html", body=sent,
                          headers={"Content-Type": "text/html", "Content-Encoding": "gzip"})
    assert expect_json(response, 201)["ok"]
    stub = client.get(f"/{db}/doc?att_encoding_info=true").json()["_attachments"]["a.html"]
    assert stub["digest"] == _digest(sent) and stub["length"] == 800 and stub["encoded_length"] == len(sent)
    assert client.get(f"/{db}/doc/a.html").body == b"<p>x</p>" * 100
    expect_error(client.put(f"/{db}/doc/b.txt?rev={response.json()['rev']}", body=b"x",
                            headers={"Content-Encoding": "br"}), 415, "bad_content_type")
    expect_error(client.put(f"/{db}/other/b.txt", body=b"not gzip", headers={"Content-Encoding": "gzip"}),
                 400, "bad_request")


def test_attachment_etag_304(client, with_att):
    db, _ = with_att
    etag = client.get(f"/{db}/doc/a.txt").header("etag")
    response = client.get(f"/{db}/doc/a.txt", headers={"If-None-Match": etag})
    assert response.status == 304 and response.body == b""


@pytest.mark.parametrize("header, status, body, content_range", [
    ("bytes=0-4", 206, DATA[0:5], f"bytes 0-4/{len(DATA)}"),
    ("bytes=6-", 206, DATA[6:], f"bytes 6-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=-5", 206, DATA[-5:], f"bytes {len(DATA) - 5}-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=3-1000", 206, DATA[3:], f"bytes 3-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=0-", 200, DATA, None),  # chttpd_db:parse_ranges/3: a first range of 0- is everything
    ("bytes=" + ",".join(f"{i}-{i}" for i in range(10)), 200, DATA, None),  # ten or more: everything
    ("items=0-1", 200, DATA, None),
    ("bytes=0-" + "9" * 5000, 206, DATA, f"bytes 0-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=-" + "9" * 5000, 206, DATA, f"bytes 0-{len(DATA) - 1}/{len(DATA)}"),
])
def test_range(client, with_bin, header, status, body, content_range):
    db, _ = with_bin
    response = client.get(f"/{db}/doc/a.bin", headers={"Range": header})
    assert response.status == status and response.body == body
    assert response.header("content-range") == content_range


def test_several_ranges_are_multipart_byteranges(client, with_bin):
    db, _ = with_bin
    response = client.get(f"/{db}/doc/a.bin", headers={"Range": "bytes=0-1, 10-11,-3"})
    assert response.status == 206
    parts = multipart.parse(response.body, multipart.boundary_of(response.header("content-type")))
    assert response.header("content-type").startswith("multipart/byteranges")
    assert [(headers["content-range"], body) for headers, body in parts] == [
        (f"bytes 0-1/{len(DATA)}", DATA[0:2]), (f"bytes 10-11/{len(DATA)}", DATA[10:12]),
        (f"bytes 19-21/{len(DATA)}", DATA[19:])]
    assert all(headers["content-type"] == "image/x-test" for headers, _ in parts)
    expect_error(client.get(f"/{db}/doc/a.bin", headers={"Range": "bytes=0-1,100-"}), 416,
                 "requested_range_not_satisfiable")


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=5-2", f"bytes={len(DATA)}-",
                                    "bytes=" + "9" * 5000 + "-"])
def test_unsatisfiable_range_is_416(client, with_bin, header):
    db, _ = with_bin
    expect_error(client.get(f"/{db}/doc/a.bin", headers={"Range": header}), 416,
                 "requested_range_not_satisfiable")


def test_missing_attachment(client, with_att):
    db, _ = with_att
    expect_error(client.get(f"/{db}/doc/nope.txt"), 404, "not_found")
    expect_error(client.get(f"/{db}/nodoc/a.txt"), 404, "not_found")


def test_put_attachment(client, db):
    # A standalone PUT on a missing document creates it (chttpd_db:db_attachment_req/3).
    response = client.put(f"/{db}/doc/dir/b.bin", body=b"\x00\x01\x02",
                          headers={"Content-Type": "application/octet-stream"})
    body = expect_json(response, 201)
    assert body["ok"] is True and body["id"] == "doc" and body["rev"].startswith("1-")
    # As CouchDB 3.4.3: a Location (segments percent-encoded as couch_util:url_encode does), no ETag.
    assert response.header("location").endswith(f"/{db}/doc/dir%2Fb.bin") and response.header("etag") is None
    got = client.get(f"/{db}/doc/dir/b.bin")
    assert got.body == b"\x00\x01\x02" and got.header("content-type") == "application/octet-stream"
    # The next one needs the rev, by query or If-Match.
    expect_error(client.put(f"/{db}/doc/c.txt", body=b"c", headers={"Content-Type": "text/plain"}),
                 409, "conflict")
    rev = client.put(f"/{db}/doc/c.txt?rev={body['rev']}", body=b"c",
                     headers={"Content-Type": "text/plain"}).json()["rev"]
    rev = client.put(f"/{db}/doc/d.txt", body=b"", headers={"If-Match": rev}).json()["rev"]
    names = sorted(client.get(f"/{db}/doc").json()["_attachments"])
    assert names == ["c.txt", "d.txt", "dir/b.bin"]
    assert client.get(f"/{db}/doc/d.txt").body == b""


def test_delete_attachment(client, with_att):
    db, rev = with_att
    expect_error(client.delete(f"/{db}/doc/a.txt"), 409, "conflict")
    # The attachment must be there before a missing rev matters (chttpd_db:db_attachment_req/4).
    expect_error(client.delete(f"/{db}/doc/nope.txt"), 404, "not_found", "Document is missing attachment")
    response = client.delete(f"/{db}/doc/a.txt?rev={rev}")
    new_rev = expect_json(response)["rev"]
    assert new_rev.startswith("2-")
    assert "_attachments" not in client.get(f"/{db}/doc").json()
    expect_error(client.get(f"/{db}/doc/a.txt"), 404, "not_found")
    # The old revision still has it.
    assert client.get(f"/{db}/doc/a.txt?rev={rev}").body == DATA
    expect_error(client.delete(f"/{db}/doc/a.txt?rev={new_rev}"), 404, "not_found")


def test_stub_keeps_the_attachment(client, with_att):
    db, rev = with_att
    doc = {"_rev": rev, "v": 2, "_attachments": {"a.txt": {"stub": True}}}
    rev2 = client.put(f"/{db}/doc", json=doc).json()["rev"]
    stub = client.get(f"/{db}/doc").json()["_attachments"]["a.txt"]
    assert stub["revpos"] == 1 and stub["digest"] == _digest(_gzipped(DATA))
    assert client.get(f"/{db}/doc/a.txt?rev={rev2}").body == DATA


def test_missing_stub_is_412(client, with_att):
    db, rev = with_att
    doc = {"_rev": rev, "_attachments": {"other.txt": {"stub": True}}}
    expect_error(client.put(f"/{db}/doc", json=doc), 412, "missing_stub")
    doc = {"_attachments": {"x": {"stub": True}}}
    expect_error(client.put(f"/{db}/fresh", json=doc), 412, "missing_stub")
    rows = client.post(f"/{db}/_bulk_docs", json={"docs": [{"_id": "fresh2", **doc}]}).json()
    assert rows[0]["error"] == "missing_stub"


def test_attachments_since(client, with_att):
    db, rev1 = with_att
    doc = client.get(f"/{db}/doc").json()
    doc["_attachments"]["b.txt"] = {"content_type": "text/plain", "data": _b64(b"bee")}
    rev2 = client.put(f"/{db}/doc", json=doc).json()["rev"]
    atts = client.get(f'/{db}/doc?atts_since=["{rev1}"]').json()["_attachments"]
    assert atts["a.txt"].get("stub") is True and "data" not in atts["a.txt"]
    assert base64.b64decode(atts["b.txt"]["data"]) == b"bee"
    atts = client.get(f'/{db}/doc?atts_since=["{rev2}"]').json()["_attachments"]
    assert all(att.get("stub") for att in atts.values())
    atts = client.get(f'/{db}/doc?atts_since=["9-{"f" * 32}"]').json()["_attachments"]
    assert all("data" in att for att in atts.values())


@pytest.mark.parametrize("value", ["x", "5", '"1-abc"', '["garbage"]', "[1]"])
def test_bad_atts_since_is_400(client, with_att, value):
    db, _ = with_att
    expect_error(client.get(f"/{db}/doc?atts_since={value}"), 400, "bad_request")


def test_bulk_get_atts_since(client, with_att):
    """As CouchDB 3.4.3: atts_since makes the attachments the client has stubs, attachments=true or not."""
    db, rev1 = with_att
    body = {"docs": [{"id": "doc", "atts_since": [rev1]}, {"id": "doc"}]}
    results = expect_json(client.post(f"/{db}/_bulk_get?attachments=true", json=body))["results"]
    assert results[0]["docs"][0]["ok"]["_attachments"]["a.txt"]["stub"] is True
    assert results[1]["docs"][0]["ok"]["_attachments"]["a.txt"]["data"] == _b64(DATA)


def test_replicated_attachment_keeps_revpos(client, db):
    doc = {"_id": "r", "_rev": "3-" + "c" * 32, "_revisions": {"start": 3, "ids": ["c" * 32, "b" * 32]},
           "_attachments": {"f": {"content_type": "text/plain", "data": _b64(b"x"), "revpos": 2}}}
    assert client.post(f"/{db}/_bulk_docs", json={"docs": [doc], "new_edits": False}).json() == []
    assert client.get(f"/{db}/r").json()["_attachments"]["f"]["revpos"] == 2


def test_design_doc_attachment(client, db):
    response = client.put(f"/{db}/_design/app/index.html", body=b"<p>hi</p>",
                          headers={"Content-Type": "text/html"})
    assert expect_json(response, 201)["id"] == "_design/app"
    assert client.get(f"/{db}/_design/app/index.html").body == b"<p>hi</p>"


def test_a_large_attachment_streams_in_and_reads_back_whole(client, db):
    """More than one part (``store/uploads.py``): stored while it arrives, read back byte for byte."""
    data = os.urandom(3 * PART_SIZE + 777)
    created = expect_json(client.put(f"/{db}/big/blob.bin", body=data,
                                     headers={"Content-Type": "application/x-blob"}), 201)
    stored_parts = parts(client, db)
    assert stored_parts >= 3  # how the bytes arrive decides where parts end; each holds >= PART_SIZE
    response = client.get(f"/{db}/big/blob.bin")
    assert response.status == 200 and response.body == data
    assert response.header("etag") == '"' + _digest(data)[4:] + '"'
    stub = client.get(f"/{db}/big").json()["_attachments"]["blob.bin"]
    assert stub["length"] == len(data) and stub["digest"] == _digest(data)
    ranged = client.get(f"/{db}/big/blob.bin", headers={"Range": f"bytes={PART_SIZE - 5}-{PART_SIZE + 4}"})
    assert ranged.status == 206 and ranged.body == data[PART_SIZE - 5:PART_SIZE + 5]
    expect_error(client.put(f"/{db}/big/other.bin", body=data, headers={"If-Match": "1-" + "0" * 32}),
                 409, "conflict")
    assert created["rev"] == client.get(f"/{db}/big").json()["_rev"]
    assert parts(client, db) == stored_parts  # the refused upload's parts are gone


def test_an_upload_cut_short_stores_nothing():
    """Two parts in, then the client is gone: no revision, and no part left behind."""
    couch = Couch()
    couch.create_db("db")
    messages = [{"type": "http.request", "body": os.urandom(PART_SIZE), "more_body": True},
                {"type": "http.request", "body": os.urandom(PART_SIZE), "more_body": True},
                {"type": "http.disconnect"}]
    assert call_app(CouchApp(couch), "PUT", "/db/doc/att", messages, "application/octet-stream") == []
    db = couch.get_db("db")
    assert db.doc_count == 0
    assert db._storage.conn.execute("SELECT COUNT(*) FROM attachment_parts").fetchone()[0] == 0


def parts(client, db):
    storage = client.app.couch.get_db(db)._storage
    return storage.conn.execute("SELECT COUNT(*) FROM attachment_parts").fetchone()[0]
