"""Tests for ``browsercouch.store.documents``: document ids, special members, revision hashes, attachments.

The rules are CouchDB 3.x's ``couch_doc.erl`` (``validate_docid``, ``transfer_fields``); messages are
CouchDB's where a client might show them.
"""

import base64
import hashlib
import re

import pytest

from browsercouch.errors import BadRequest, DocValidation, IllegalDocId
from browsercouch.store.documents import (
    SPECIAL_MEMBERS,
    attachment_digest,
    canonical_json,
    decode_attachment_data,
    new_rev_hash,
    parse_rev_or_400,
    split_doc,
    validate_doc_id,
)


@pytest.mark.parametrize("doc_id", ["a", "A b", "_design/x", "_design/a/b", "_local/x", "é€😀", "a/b", " ",
                                    "x" * 10_000, "design/", "local"])
def test_valid_doc_ids(doc_id):
    validate_doc_id(doc_id)


@pytest.mark.parametrize("doc_id, reason", [
    ("", "Document id must not be empty"),
    ("_foo", "Only reserved document ids may start with underscore."),
    ("_all_docs", "Only reserved document ids may start with underscore."),
    ("_design/", "Illegal document id `_design/`"),
    ("_local/", "Illegal document id `_local/`"),
    (5, "Document id must be a string"),
    (None, "Document id must be a string"),
    ("bad\ud800", "Document id must be valid UTF-8"),
])
def test_invalid_doc_ids(doc_id, reason):
    with pytest.raises(IllegalDocId) as err:
        validate_doc_id(doc_id)
    assert (err.value.status, err.value.error, err.value.reason) == (400, "illegal_docid", reason)


def test_local_ids_can_be_refused():
    validate_doc_id("_local/x")
    with pytest.raises(IllegalDocId):
        validate_doc_id("_local/x", allow_local=False)


def test_split_doc():
    meta, body = split_doc({"_id": "a", "_rev": "1-x", "v": 1, "_attachments": {}, "nested": {"_x": 1}})
    assert meta == {"_id": "a", "_rev": "1-x", "_attachments": {}}
    assert body == {"v": 1, "nested": {"_x": 1}}
    typed = {"_attachments": {}, "_deleted": True, "_revisions": {}}
    meta, _ = split_doc({member: typed.get(member) for member in SPECIAL_MEMBERS})
    assert set(meta) == SPECIAL_MEMBERS


def test_split_doc_refuses():
    with pytest.raises(DocValidation) as err:
        split_doc({"_id": "a", "_foo": 1})
    assert (err.value.status, err.value.error, err.value.reason) == (
        400, "doc_validation", "Bad special document member: _foo")
    for doc in ([], "doc", None):
        with pytest.raises(BadRequest):
            split_doc(doc)
    # couch_doc:transfer_fields/3 takes these members by type only.
    for member, value in (("_attachments", []), ("_deleted", "yes"), ("_revisions", [1])):
        with pytest.raises(DocValidation, match=f"Bad special document member: {member}"):
            split_doc({member: value})


def test_new_rev_hash_is_a_deterministic_md5():
    atts = {"b": {"digest": "md5-2"}, "a": {"digest": "md5-1"}}
    first = new_rev_hash(False, "1-abc", {"x": 1, "y": [1, 2]}, atts)
    assert re.match(r"^[0-9a-f]{32}$", first)
    # Key order, in the body or among attachments, does not matter: the edit is serialised canonically.
    assert new_rev_hash(False, "1-abc", {"y": [1, 2], "x": 1}, dict(reversed(list(atts.items())))) == first
    changed = [
        new_rev_hash(True, "1-abc", {"x": 1, "y": [1, 2]}, atts),
        new_rev_hash(False, None, {"x": 1, "y": [1, 2]}, atts),
        new_rev_hash(False, "1-abd", {"x": 1, "y": [1, 2]}, atts),
        new_rev_hash(False, "1-abc", {"x": 1, "y": [2, 1]}, atts),
        new_rev_hash(False, "1-abc", {"x": 1, "y": [1, 2]}, {"a": {"digest": "md5-1"}}),
        new_rev_hash(False, "1-abc", {"x": 1, "y": [1, 2]}, {**atts, "a": {"digest": "md5-3"}}),
    ]
    assert len({first, *changed}) == len(changed) + 1


@pytest.mark.parametrize("data, digest", [
    (b"", "md5-1B2M2Y8AsgTpgAmY7PhCfg=="),
    (b"hello", "md5-XUFAKrxLKna5cZ2REBfFkg=="),
    (bytes(range(256)), "md5-" + base64.b64encode(hashlib.md5(bytes(range(256))).digest()).decode()),
])
def test_attachment_digest(data, digest):
    assert attachment_digest(data) == digest


def test_decode_attachment_data():
    assert decode_attachment_data("a", "aGVsbG8=") == b"hello"
    assert decode_attachment_data("a", "") == b""
    for bad in ("aGVsbG8", "not base64!", 5, None, b"aGVsbG8="):
        with pytest.raises(BadRequest) as err:
            decode_attachment_data("a.txt", bad)
        assert err.value.reason == "Invalid attachment data for a.txt"


def test_canonical_json():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == '{"a":[1,{"c":"é","d":2}],"b":1}'


def test_parse_rev_or_400():
    assert parse_rev_or_400("2-ab") == (2, "ab")
    for bad in ("ab", "", None, "x-1"):
        with pytest.raises(BadRequest) as err:
            parse_rev_or_400(bad)
        assert err.value.reason == "Invalid rev format"
