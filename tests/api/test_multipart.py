"""The multipart writer and reader: round trips, RFC 2046 framing, and malformed bodies."""

import json

import pytest

from browsercouch.api import multipart
from browsercouch.errors import BadRequest

DOC = {
    "_id": "d", "_rev": "2-b", "x": 1,
    "_attachments": {
        "a.txt": {"content_type": "text/plain", "digest": "md5-x", "length": 5, "revpos": 2,
                  "follows": True},
        "old.bin": {"content_type": "application/octet-stream", "digest": "md5-y", "length": 3, "revpos": 1,
                    "stub": True},
    },
}


def _related(boundary="inner"):
    return b"".join(multipart.related_parts(DOC, [("a.txt", "text/plain", b"hello")], boundary))


def test_related_round_trip():
    body = _related()
    doc, data = multipart.read_related(body, 'multipart/related; boundary="inner"')
    assert data == {"a.txt": b"hello"}
    assert doc["_attachments"]["a.txt"]["follows"] is True
    assert "data" not in doc["_attachments"]["a.txt"]
    assert doc["_attachments"]["old.bin"]["stub"] is True


def test_an_encoded_attachment_says_so_in_its_part():
    doc = {"_id": "d", "_attachments": {"a.txt": {"follows": True, "encoding": "gzip"},
                                        "b": {"follows": True}}}
    parts = multipart.parse(b"".join(multipart.related_parts(doc, [("a.txt", "text/plain", b"\x1f\x8b.."),
                                                                    ("b", "image/png", b"png")], "x")), "x")
    assert [headers.get("content-encoding") for headers, _ in parts[1:]] == ["gzip", None]


@pytest.mark.parametrize("preamble, epilogue", [(b"", b""), (b"ignored preamble\r\n", b"\r\ntrailing junk")],
                         ids=["bare", "with preamble and epilogue"])
def test_parse_ignores_preamble_and_epilogue(preamble, epilogue):
    parts = multipart.parse(preamble + _related() + epilogue, "inner")
    assert [headers.get("content-type") for headers, _ in parts] == ["application/json", "text/plain"]
    assert parts[1][1] == b"hello"


def test_attachment_bodies_may_contain_anything_but_the_delimiter():
    data = b"-inner at the start\r\n--inne\r\n-inner\x00\xff\r\n"
    body = b"".join(multipart.related_parts(DOC, [("a.txt", "text/plain", data)], "inner"))
    _, found = multipart.read_related(body, "multipart/related; boundary=inner")
    assert found["a.txt"] == data


def test_parts_are_matched_by_order_without_filenames():
    doc = {"_id": "d", "_attachments": {"one": {"follows": True}, "two": {"follows": True}}}
    body = (b'--b\r\nContent-Type: application/json\r\n\r\n' + json.dumps(doc).encode()
            + b"\r\n--b\r\n\r\nfirst\r\n--b\r\n\r\nsecond\r\n--b--")
    _, data = multipart.read_related(body, "multipart/related; boundary=b")
    assert data == {"one": b"first", "two": b"second"}


def test_mixed_marks_missing_revisions_as_errors():
    entries = [("json", {"_id": "d", "_rev": "1-a"}, False), ("json", {"missing": "9-z"}, True),
               ("related", DOC, [("a.txt", "text/plain", b"hello")])]
    body = b"".join(multipart.mixed_parts(entries, "outer"))
    parts = multipart.parse(body, "outer")
    assert [h["content-type"].split(";")[0] for h, _ in parts] == [
        "application/json", "application/json", "multipart/related"]
    assert 'error="true"' in parts[1][0]["content-type"]
    inner = multipart.boundary_of(parts[2][0]["content-type"])
    doc, data = multipart.read_related(parts[2][1], f'multipart/related; boundary="{inner}"')
    assert doc["_id"] == "d" and data == {"a.txt": b"hello"}


@pytest.mark.parametrize("body", [
    b"no delimiter at all",
    b"--b\r\nContent-Type: application/json\r\n\r\n{}",
    b"--b\r\nbroken header line\r\n\r\n{}\r\n--b--",
], ids=["no delimiter", "truncated", "bad header"])
def test_malformed_bodies_are_400(body):
    with pytest.raises(BadRequest):
        multipart.parse(body, "b")


@pytest.mark.parametrize("content_type", ["multipart/related", "multipart/related; boundary=", "text/plain"])
def test_missing_boundary_is_400(content_type):
    with pytest.raises(BadRequest):
        multipart.boundary_of(content_type)


def test_non_object_document_part_is_400():
    with pytest.raises(BadRequest):
        multipart.read_related(b"--b\r\n\r\n[1]\r\n--b--", "multipart/related; boundary=b")
