"""Tests for ``browsercouch.store.database``: document rules over real SQLite, a file and ``:memory:``.

The reference is Apache CouchDB 3.x; where a rule is subtle the test cites the CouchDB source or docs it
follows. Every test that writes calls ``check_counts`` afterwards: the counters ``Database`` keeps in
memory (``update_seq``, ``doc_count``, ``doc_del_count``) must equal what SQLite says, and ``info()``.
"""

import asyncio
import base64
import gzip
import hashlib
import re
import sqlite3
from contextlib import closing

import pytest

from browsercouch.errors import BadRequest, Conflict, MissingStub, NotFound, TooLarge
from browsercouch.store import Couch, database, revtree

REV = re.compile(r"^[1-9][0-9]*-[0-9a-f]{32}$")
HELLO = base64.b64encode(b"hello").decode()
WORLD = base64.b64encode(b"world").decode()
# md5(b"hello") in base64, as CouchDB writes attachment digests ("md5-" + base64 of the raw md5).
HELLO_DIGEST = "md5-XUFAKrxLKna5cZ2REBfFkg=="
# What CouchDB 3.4.3 answers for "hello" stored as text/plain: the md5 of its level-8 gzip stream.
HELLO_TEXT_DIGEST = "md5-iMaiC8wqiFlD2NjLTemvCQ=="
HELLO_TEXT_GZIP_LENGTH = 25


@pytest.fixture(params=["file", "memory"])
def couch(request, tmp_path):
    server = Couch(tmp_path / "data" if request.param == "file" else None)
    yield server
    server.close()


@pytest.fixture
def db(couch):
    return couch.create_db("db")


def check_counts(db):
    """The in-memory counters agree with the storage and with ``info()``."""
    assert (db.doc_count, db.doc_del_count) == db._storage.count_docs()
    assert db.update_seq == db._storage.max_seq()
    info = db.info()
    assert (info["doc_count"], info["doc_del_count"], info["update_seq"]) == (
        db.doc_count, db.doc_del_count, db.update_seq)


def put(db, doc, **kwargs):
    result = db.put(doc, **kwargs)
    check_counts(db)
    return result["rev"]


def replicate(db, doc_id, path, deleted=False, attachment_data=None, **body):
    """Write ``path`` ("3-c 2-b 1-a", newest first) as a replicator does: new_edits=false + _revisions."""
    revs = [revtree.parse_rev(r) for r in path.split()]
    doc = {"_id": doc_id, "_rev": path.split()[0],
           "_revisions": {"start": revs[0][0], "ids": [digest for _, digest in revs]}, **body}
    if deleted:
        doc["_deleted"] = True
    assert db.update_docs([doc], new_edits=False, attachment_data=attachment_data) == []
    check_counts(db)


def h(letter):
    """A 32-hex rev hash made of one letter (its code in hex, 16 times: letters keep their order), to
    write readable replicated trees."""
    return f"{ord(letter):02x}" * 16


# ---------------------------------------------------------------------------------------------------------
# Create, update, delete


def test_create_get_update_delete(db):
    rev1 = put(db, {"_id": "a", "v": 1})
    assert REV.match(rev1) and rev1.startswith("1-")
    assert db.get("a") == {"_id": "a", "_rev": rev1, "v": 1}
    rev2 = put(db, {"_id": "a", "_rev": rev1, "v": 2})
    assert rev2.startswith("2-") and db.get("a")["v"] == 2
    assert db.get("a", rev1) == {"_id": "a", "_rev": rev1, "v": 1}
    rev3 = put(db, {"_id": "a", "_rev": rev2, "_deleted": True})
    assert rev3.startswith("3-")
    with pytest.raises(NotFound) as err:
        db.get("a")
    assert err.value.reason == "deleted"
    # The tombstone itself can be read by rev.
    assert db.get("a", rev3) == {"_id": "a", "_rev": rev3, "_deleted": True}
    assert (db.doc_count, db.doc_del_count, db.update_seq) == (0, 1, 3)


def test_missing_document(db):
    with pytest.raises(NotFound) as err:
        db.get("nope")
    assert (err.value.status, err.value.reason) == (404, "missing")
    with pytest.raises(NotFound):
        db.get("nope", "1-" + h("a"))


def test_an_unknown_rev_of_a_known_document_is_missing(db):
    put(db, {"_id": "a"})
    with pytest.raises(NotFound) as err:
        db.get("a", "1-" + h("f"))
    assert err.value.reason == "missing"
    with pytest.raises(BadRequest):
        db.get("a", "not-a-rev")


def test_a_document_without_id_gets_a_uuid(db):
    result = db.put({"v": 1})
    assert re.match(r"^[0-9a-f]{32}$", result["id"]) and REV.match(result["rev"])
    assert db.get(result["id"])["v"] == 1
    check_counts(db)


@pytest.mark.parametrize("doc", [
    pytest.param({"_id": "a", "v": 2}, id="no _rev while the document exists"),
    pytest.param({"_id": "a", "_rev": "1-" + h("0"), "v": 2}, id="an unknown _rev"),
    pytest.param({"_id": "new", "_rev": "1-" + h("0")}, id="a _rev for a new document"),
])
def test_edits_need_a_current_leaf(db, doc):
    put(db, {"_id": "a", "v": 1})
    with pytest.raises(Conflict) as err:
        db.put(doc)
    assert (err.value.status, err.value.error) == (409, "conflict")
    check_counts(db)


def test_an_old_revision_cannot_be_edited(db):
    # COUCHDB-292: a deleted document must not be revived through a revision before its deletion.
    rev1 = put(db, {"_id": "a", "v": 1})
    rev2 = put(db, {"_id": "a", "_rev": rev1, "v": 2})
    with pytest.raises(Conflict):
        db.put({"_id": "a", "_rev": rev1, "v": 3})
    put(db, {"_id": "a", "_rev": rev2, "_deleted": True})
    with pytest.raises(Conflict):
        db.put({"_id": "a", "_rev": rev1, "v": 3})


def test_recreating_a_deleted_document_extends_the_deleted_branch(db):
    # couch_db_updater:merge_rev_tree/4: a new body without _rev on a deleted document gets pos + 1 of
    # the deleted winner (the revision tree keeps growing, it does not restart at 1-).
    rev1 = put(db, {"_id": "a", "v": 1})
    rev2 = put(db, {"_id": "a", "_rev": rev1, "_deleted": True})
    rev3 = put(db, {"_id": "a", "v": 2})
    assert rev3.startswith("3-")
    doc = db.get("a", revs=True)
    assert doc["v"] == 2 and doc["_revisions"]["ids"] == [r.split("-")[1] for r in (rev3, rev2, rev1)]
    assert (db.doc_count, db.doc_del_count) == (1, 0)


@pytest.mark.parametrize("edit", [
    pytest.param({"v": 2}, id="undelete through the tombstone's _rev"),
    pytest.param({"_deleted": True}, id="delete the tombstone again"),
])
def test_a_deleted_document_refuses_edits_with_rev(db, edit):
    # CouchDB 3.x (couch_db_updater:merge_rev_tree/4, "recreating a document that was previously
    # deleted"): while the winner is deleted, only a new body without _rev is accepted; PouchDB's
    # "Cant undelete document in CouchDB master" (pouchdb#2866) is the same rule seen from a client.
    rev1 = put(db, {"_id": "a"})
    rev2 = put(db, {"_id": "a", "_rev": rev1, "_deleted": True})
    with pytest.raises(Conflict):
        db.put({"_id": "a", "_rev": rev2, **edit})
    with pytest.raises(Conflict):
        db.put({"_id": "a", "_deleted": True})
    check_counts(db)
    assert db.get("a", rev2)["_deleted"] is True


def test_a_new_document_can_be_created_deleted(db):
    # Allowed by CouchDB <= 3.x (apache/couchdb#3123 keeps it for compatibility).
    rev = put(db, {"_id": "a", "_deleted": True, "why": "tombstone"})
    assert rev.startswith("1-")
    with pytest.raises(NotFound):
        db.get("a")
    assert db.get("a", rev) == {"_id": "a", "_rev": rev, "_deleted": True, "why": "tombstone"}
    assert (db.doc_count, db.doc_del_count) == (0, 1)


def test_a_deleted_conflict_can_be_edited_while_the_winner_is_live(db):
    # With a live winner, _rev may name any leaf (couch_db:prep_and_validate_update/5), deleted or not.
    replicate(db, "a", f"2-{h('b')} 1-{h('a')}")
    replicate(db, "a", f"2-{h('c')} 1-{h('a')}", deleted=True)
    rev = put(db, {"_id": "a", "_rev": f"2-{h('c')}", "_deleted": True})
    assert rev.startswith("3-")
    rev = put(db, {"_id": "a", "_rev": rev, "back": True})
    assert db.get("a", conflicts=True) == {"_id": "a", "_rev": rev, "back": True,
                                           "_conflicts": [f"2-{h('b')}"]}


def test_revisions_are_deterministic(tmp_path):
    """The same edits on two fresh databases give the same revisions, so retries are idempotent."""
    def edits(couch):
        db = couch.create_db("db")
        revs = [put(db, {"_id": "a", "v": 1, "_attachments": {"t": {"data": HELLO}}})]
        revs.append(put(db, {"_id": "a", "_rev": revs[-1], "v": 2, "_attachments": {"t": {"stub": True}}}))
        revs.append(put(db, {"_id": "a", "_rev": revs[-1], "_deleted": True}))
        revs.append(put(db, {"_id": "b", "x": {"nested": [1, "two"]}, "é": "ü"}))
        return revs

    with closing(Couch(tmp_path / "one")) as one, closing(Couch(None)) as two:
        assert edits(one) == edits(two)


def test_revisions_depend_on_the_whole_edit(db):
    base = put(db, {"_id": "a", "v": 1}).split("-")[1]
    other = {
        "body": {"_id": "b", "v": 2},
        "deleted": {"_id": "c", "v": 1, "_deleted": True},
        "attachment": {"_id": "d", "v": 1, "_attachments": {"t": {"data": HELLO}}},
        "parent": {"_id": "a", "_rev": "1-" + base, "v": 1},
    }
    hashes = {name: put(db, doc).split("-")[1] for name, doc in other.items()}
    assert base not in hashes.values() and len(set(hashes.values())) == len(hashes)
    # The id is not part of the hash (as in CouchDB's new_revid): same edit, same first revision.
    assert put(db, {"_id": "e", "v": 1}) == "1-" + base


# ---------------------------------------------------------------------------------------------------------
# Conflicts through new_edits=false, and _revisions


def conflicted(db):
    """``a``: 1-a ┬─ 2-b            winner 3-d; _conflicts [2-b]; _deleted_conflicts [3-f]
                  ├─ 2-c ── 3-d
                  └─ 2-e ── 3-f†
    """
    replicate(db, "a", f"2-{h('b')} 1-{h('a')}", v="b")
    replicate(db, "a", f"3-{h('d')} 2-{h('c')} 1-{h('a')}", v="d")
    replicate(db, "a", f"3-{h('f')} 2-{h('e')} 1-{h('a')}", deleted=True)


def test_replicated_edits_make_conflicts(db):
    conflicted(db)
    doc = db.get("a", conflicts=True, deleted_conflicts=True)
    assert doc == {"_id": "a", "_rev": f"3-{h('d')}", "v": "d", "_conflicts": [f"2-{h('b')}"],
                   "_deleted_conflicts": [f"3-{h('f')}"]}
    assert db.get("a") == {"_id": "a", "_rev": f"3-{h('d')}", "v": "d"}
    assert (db.doc_count, db.doc_del_count, db.update_seq) == (1, 0, 3)


def test_a_known_revision_changes_nothing(db):
    conflicted(db)
    replicate(db, "a", f"3-{h('d')} 2-{h('c')} 1-{h('a')}", v="ignored")
    replicate(db, "a", f"2-{h('b')}")
    assert db.update_seq == 3 and db.get("a", f"3-{h('d')}")["v"] == "d"


def test_a_replicated_tombstone_on_the_winner_lets_a_conflict_win(db):
    conflicted(db)
    replicate(db, "a", f"4-{h('g')} 3-{h('d')}", deleted=True)
    assert db.get("a", conflicts=True, deleted_conflicts=True) == {
        "_id": "a", "_rev": f"2-{h('b')}", "v": "b", "_deleted_conflicts": [f"4-{h('g')}", f"3-{h('f')}"]}
    assert (db.doc_count, db.doc_del_count) == (1, 0)
    replicate(db, "a", f"3-{h('h')} 2-{h('b')}", deleted=True)
    with pytest.raises(NotFound):
        db.get("a")
    assert (db.doc_count, db.doc_del_count) == (0, 1)


def test_revisions_merge_into_the_tree(db):
    replicate(db, "a", f"3-{h('c')} 2-{h('b')} 1-{h('a')}", v=3)
    doc = db.get("a", revs=True, revs_info=True)
    assert doc["_revisions"] == {"start": 3, "ids": [h("c"), h("b"), h("a")]}
    # Only the replicated leaf has a body here; its ancestors are known but missing.
    assert doc["_revs_info"] == [{"rev": f"3-{h('c')}", "status": "available"},
                                 {"rev": f"2-{h('b')}", "status": "missing"},
                                 {"rev": f"1-{h('a')}", "status": "missing"}]
    # A later path that shares history extends the same branch: no conflict.
    replicate(db, "a", f"5-{h('e')} 4-{h('d')} 3-{h('c')} 2-{h('b')}", v=5)
    assert db.get("a", conflicts=True) == {"_id": "a", "_rev": f"5-{h('e')}", "v": 5}
    assert db.open_revs("a", "all") == [{"ok": {"_id": "a", "_rev": f"5-{h('e')}", "v": 5}}]


def test_a_replicated_edit_without_revisions_is_a_root(db):
    assert db.update_docs([{"_id": "a", "_rev": f"4-{h('d')}", "v": 1}], new_edits=False) == []
    assert db.get("a", revs=True)["_revisions"] == {"start": 4, "ids": [h("d")]}
    check_counts(db)


def test_revisions_win_over_rev(db):
    """couch_doc:transfer_fields/3 takes the path from _revisions whatever _rev says; PouchDB sends such
    documents ("2-a" with _revisions {start: 1, ids: ["a"]}) when a hash repeats at two depths."""
    assert db.update_docs([{"_id": "a", "_rev": "2-" + h("b"), "_revisions": {"start": 1, "ids": [h("a")]},
                            "v": 1}], new_edits=False) == []
    assert db.get("a", revs=True) == {"_id": "a", "_rev": "1-" + h("a"), "v": 1,
                                      "_revisions": {"start": 1, "ids": [h("a")]}}
    assert db.update_docs([{"_id": "b", "_revisions": {"start": 1, "ids": [""]}}], new_edits=False) == []
    assert db.get("b")["_rev"] == "1-"
    check_counts(db)


@pytest.mark.parametrize("doc", [
    pytest.param({"_id": "a"}, id="no _rev"),
    pytest.param({"_rev": "1-" + h("a")}, id="no _id"),
    pytest.param({"_id": "a", "_revisions": {"start": 2, "ids": [h("b"), "x", "y", "z"]}},
                 id="_revisions run below generation 0"),
    pytest.param({"_id": "a", "_rev": "1-" + h("b"), "_revisions": {"start": 1, "ids": [h("b"), 7]}},
                 id="a rev id is not a string"),
    pytest.param({"_id": "a", "_rev": "1-" + h("b"), "_revisions": {"start": 1, "ids": ["z" * 32]}},
                 id="32 characters that are not hex"),
    pytest.param({"_id": "a", "_rev": "2-" + h("b"), "_revisions": {"start": "2", "ids": [h("b")]}},
                 id="_revisions start is not a number"),
    pytest.param({"_id": "a", "_rev": "2-" + h("b"), "_revisions": [2, h("b")]}, id="_revisions is a list"),
    pytest.param({"_id": "a", "_rev": "2-" + h("b"), "_revisions": {"start": 2, "ids": []}},
                 id="_revisions has no ids"),
    pytest.param({"_id": "a", "_rev": "bad"}, id="a malformed _rev"),
])
def test_bad_replicated_edits_are_refused(db, doc):
    with pytest.raises(BadRequest):
        db.update_docs([{"_id": "ok", "_rev": "1-" + h("a")}, doc], new_edits=False)
    # Nothing was written: the well-formed document before it went down with the batch.
    assert db.update_seq == 0 and list(db.change_rows()) == []
    check_counts(db)


# ---------------------------------------------------------------------------------------------------------
# Attachments


def test_inline_attachments_become_stubs_with_md5_digests(db):
    rev = put(db, {"_id": "a", "_attachments": {"hello.bin": {"content_type": "image/png", "data": HELLO}}})
    expected_digest = "md5-" + base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    assert expected_digest == HELLO_DIGEST
    assert db.get("a")["_attachments"] == {"hello.bin": {
        "content_type": "image/png", "digest": HELLO_DIGEST, "length": 5, "revpos": 1, "stub": True}}
    # couch_att:to_json/4: inline data has no "length" beside it.
    assert db.get("a", attachments=True)["_attachments"] == {"hello.bin": {
        "content_type": "image/png", "digest": HELLO_DIGEST, "revpos": 1, "data": HELLO}}
    assert db.get_attachment("a", "hello.bin") == (rev, db.get("a")["_attachments"]["hello.bin"], b"hello")
    with pytest.raises(NotFound):
        db.get_attachment("a", "other.bin")


def test_compressible_attachments_are_stored_gzipped_as_couchdb_stores_them(db):
    put(db, {"_id": "a", "_attachments": {"hello.txt": {"content_type": "text/plain", "data": HELLO}}})
    stub = {"content_type": "text/plain", "digest": HELLO_TEXT_DIGEST, "length": 5, "revpos": 1, "stub": True}
    assert db.get("a")["_attachments"] == {"hello.txt": stub}
    encoding = {"encoding": "gzip", "encoded_length": HELLO_TEXT_GZIP_LENGTH}
    assert db.get("a", att_encoding_info=True)["_attachments"] == {"hello.txt": {**stub, **encoding}}
    assert db.get("a", attachments=True)["_attachments"]["hello.txt"]["data"] == HELLO
    assert db.get("a", attachments=True, att_encoding_info=True)["_attachments"] == {"hello.txt": {
        "content_type": "text/plain", "digest": HELLO_TEXT_DIGEST, "revpos": 1, "data": HELLO, **encoding}}
    assert db.get_attachment("a", "hello.txt")[2] == b"hello"
    assert gzip.decompress(db.get_attachment("a", "hello.txt", encoded=True)[2]) == b"hello"


@pytest.mark.parametrize("sent_digest, stored_digest, encoding", [
    pytest.param(None, HELLO_TEXT_DIGEST, "gzip", id="no digest: gzipped"),
    pytest.param(HELLO_DIGEST, HELLO_DIGEST, None, id="PouchDB's digest: kept"),
    pytest.param(HELLO_TEXT_DIGEST, HELLO_TEXT_DIGEST, "gzip", id="CouchDB's digest: gzipped"),
    pytest.param("md5-AAAAAAAAAAAAAAAAAAAAAA==", HELLO_TEXT_DIGEST, "gzip", id="a wrong one: ignored"),
])
def test_an_inline_attachment_keeps_a_digest_its_bytes_prove(db, sent_digest, stored_digest, encoding):
    """PouchDB digests text as plain md5: kept, so PouchDB -> browsercouch -> PouchDB keeps digests."""
    att = {"content_type": "text/plain", "data": HELLO, **({"digest": sent_digest} if sent_digest else {})}
    replicate(db, "a", f"1-{h('a')}", _attachments={"hello.txt": att})
    stub = db.get("a", att_encoding_info=True)["_attachments"]["hello.txt"]
    assert (stub["digest"], stub.get("encoding")) == (stored_digest, encoding)
    assert db.get_attachment("a", "hello.txt")[2] == b"hello"


def test_attachments_follow_the_document_as_stored(db):
    put(db, {"_id": "a", "_attachments": {"hello.txt": {"content_type": "text/plain", "data": HELLO},
                                          "hello.bin": {"data": HELLO}}})
    doc, bodies = db.get_related("a", attachments=True, follows=True)
    assert doc["_attachments"] == {
        "hello.txt": {"content_type": "text/plain", "digest": HELLO_TEXT_DIGEST, "revpos": 1, "length": 5,
                      "follows": True, "encoding": "gzip", "encoded_length": HELLO_TEXT_GZIP_LENGTH},
        "hello.bin": {"content_type": "application/octet-stream", "digest": HELLO_DIGEST, "revpos": 1,
                      "length": 5, "follows": True}}
    assert [(name, gzip.decompress(data) if name.endswith("txt") else data) for name, _, data in bodies] == [
        ("hello.txt", b"hello"), ("hello.bin", b"hello")]


def test_an_encoded_attachment_that_follows_is_stored_as_sent(db):
    """CouchDB's replicator sends gzip-stored attachments encoded, with their digest: kept byte for byte."""
    sent = gzip.compress(b"attachment 60" * 20)
    digest = "md5-" + base64.b64encode(hashlib.md5(sent).digest()).decode()
    att = {"follows": True, "content_type": "text/plain", "digest": digest, "length": 260, "revpos": 1,
           "encoding": "gzip", "encoded_length": len(sent)}
    replicate(db, "a", f"1-{h('a')}", _attachments={"a.txt": att}, attachment_data={("a", "a.txt"): sent})
    assert db.get("a", att_encoding_info=True)["_attachments"]["a.txt"] == {
        "content_type": "text/plain", "digest": digest, "length": 260, "revpos": 1, "stub": True,
        "encoding": "gzip", "encoded_length": len(sent)}
    assert db.get_attachment("a", "a.txt")[2] == b"attachment 60" * 20
    assert db.get_attachment("a", "a.txt", encoded=True)[2] == sent


@pytest.mark.parametrize("att, data, error", [
    pytest.param({"digest": "md5-AAAAAAAAAAAAAAAAAAAAAA=="}, b"hello", "content_md5_mismatch", id="digest"),
    pytest.param({"encoding": "gzip"}, b"not gzip", "bad_request", id="not gzip"),
    pytest.param({"encoding": "compress"}, b"hello", "bad_request", id="unknown encoding"),
])
def test_attachments_that_follow_must_be_what_they_claim(db, att, data, error):
    with pytest.raises(BadRequest) as err:
        db.put({"_id": "a", "_attachments": {"x": {"follows": True, **att}}},
               attachment_data={("a", "x"): data})
    assert err.value.error == error
    check_counts(db)


def test_a_replicated_stub_of_bytes_stored_elsewhere_keeps_their_encoding(db):
    put(db, {"_id": "a", "_attachments": {"hello.txt": {"content_type": "text/plain", "data": HELLO}}})
    replicate(db, "b", f"2-{h('b')} 1-{h('a')}",
              _attachments={"copy.txt": {"stub": True, "content_type": "text/plain", "revpos": 1,
                                         "digest": HELLO_TEXT_DIGEST}})
    assert db.get("b", att_encoding_info=True)["_attachments"]["copy.txt"] == {
        "content_type": "text/plain", "digest": HELLO_TEXT_DIGEST, "length": 5, "revpos": 1, "stub": True,
        "encoding": "gzip", "encoded_length": HELLO_TEXT_GZIP_LENGTH}
    assert db.get_attachment("b", "copy.txt")[2] == b"hello"


def test_stubs_keep_revpos_and_new_data_gets_the_new_pos(db):
    rev1 = put(db, {"_id": "a", "_attachments": {"one": {"data": HELLO}}})
    rev2 = put(db, {"_id": "a", "_rev": rev1, "v": 2, "_attachments": {"one": {"stub": True}}})
    rev3 = put(db, {"_id": "a", "_rev": rev2,
                    "_attachments": {"one": {"stub": True}, "two": {"data": WORLD}}})
    atts = db.get("a")["_attachments"]
    assert (atts["one"]["revpos"], atts["two"]["revpos"]) == (1, 3)
    assert atts["two"]["content_type"] == "application/octet-stream"
    # Leaving an attachment out of an edit removes it from the new revision (not from the old ones).
    put(db, {"_id": "a", "_rev": rev3, "_attachments": {"two": {"stub": True}}})
    assert list(db.get("a")["_attachments"]) == ["two"]
    assert list(db.get("a", rev3)["_attachments"]) == ["one", "two"]


@pytest.mark.parametrize("stub", [
    pytest.param({"other": {"stub": True}}, id="a name the parent does not have"),
    pytest.param({"one": {"stub": True, "digest": "md5-AAAAAAAAAAAAAAAAAAAAAA=="}},
                 id="a digest that differs"),
])
def test_a_stub_must_exist_on_the_parent(db, stub):
    rev = put(db, {"_id": "a", "_attachments": {"one": {"data": HELLO}}})
    with pytest.raises(MissingStub) as err:
        db.put({"_id": "a", "_rev": rev, "_attachments": stub})
    assert (err.value.status, err.value.error) == (412, "missing_stub")
    check_counts(db)


def test_a_stub_on_a_new_document_is_missing(db):
    with pytest.raises(MissingStub):
        db.put({"_id": "a", "_attachments": {"one": {"stub": True}}})
    assert db.update_seq == 0


def test_replicated_stubs_resolve_against_the_nearest_stored_ancestor(db):
    replicate(db, "a", f"1-{h('a')}", _attachments={"one": {"data": HELLO, "revpos": 1}})
    replicate(db, "a", f"3-{h('c')} 2-{h('b')} 1-{h('a')}",
              _attachments={"one": {"stub": True, "revpos": 1}, "two": {"data": WORLD, "revpos": 3}})
    atts = db.get("a", attachments=True)["_attachments"]
    assert {name: (att["revpos"], att["data"]) for name, att in atts.items()} == {
        "one": (1, HELLO), "two": (3, WORLD)}
    # No stored ancestor has it: the row carries missing_stub, and nothing is written.
    [row] = db.update_docs([{"_id": "b", "_rev": f"2-{h('b')}",
                             "_revisions": {"start": 2, "ids": [h("b"), h("a")]},
                             "_attachments": {"one": {"stub": True, "revpos": 1}}}], new_edits=False)
    assert isinstance(row["exception"], MissingStub) and row["error"] == "missing_stub"
    assert db.lookup("b") is None
    check_counts(db)


def test_atts_since_sends_only_newer_attachment_data(db):
    # couch_db:apply_open_options/2 {atts_since, Revs}: data for attachments whose revpos is above the
    # newest of the given revisions that is an ancestor (or the revision itself); stubs for the rest.
    rev1 = put(db, {"_id": "a", "_attachments": {"one": {"data": HELLO}}})
    rev2 = put(db, {"_id": "a", "_rev": rev1,
                    "_attachments": {"one": {"stub": True}, "two": {"data": WORLD}}})

    def shown(atts_since):
        atts = db.get("a", atts_since=atts_since)["_attachments"]
        return {name: "data" if "data" in att else "stub" for name, att in atts.items()}

    assert shown([rev1]) == {"one": "stub", "two": "data"}
    assert shown([rev2]) == {"one": "stub", "two": "stub"}
    assert shown(["1-" + h("f")]) == {"one": "data", "two": "data"}
    assert shown(["1-" + h("f"), rev1]) == {"one": "stub", "two": "data"}
    assert shown([]) == {"one": "data", "two": "data"}


def test_attachment_data_is_stored_once_per_digest(db):
    put(db, {"_id": "a", "_attachments": {"x": {"data": HELLO}}})
    put(db, {"_id": "b", "_attachments": {"y": {"data": HELLO}, "z": {"data": WORLD}}})
    assert sorted(db._storage.list_attachments()) == sorted(
        [HELLO_DIGEST, "md5-" + base64.b64encode(hashlib.md5(b"world").digest()).decode()])



def test_attachments_that_follow_the_document(db):
    # multipart/related PUTs: the JSON says "follows": true and the bytes come separately.
    rev = db.put({"_id": "a", "_attachments": {"big": {"follows": True, "content_type": "image/png"}}},
                 attachment_data={("a", "big"): b"\x89PNG"})["rev"]
    assert db.get_attachment("a", "big")[2] == b"\x89PNG"
    with pytest.raises(BadRequest):
        db.put({"_id": "a", "_rev": rev, "_attachments": {"big": {"follows": True}}})


@pytest.mark.parametrize("atts", [
    pytest.param({"x": {"data": "not base64!"}}, id="bad base64"),
    pytest.param({"x": {"content_type": "text/plain"}}, id="neither data nor stub"),
    pytest.param({"x": "hello"}, id="not an object"),
    pytest.param({"_x": {"data": HELLO}}, id="a name starting with _"),
])
def test_bad_attachments_are_400(db, atts):
    with pytest.raises(BadRequest):
        db.put({"_id": "a", "_attachments": atts})


def test_put_and_delete_attachment(db):
    result = db.put_attachment("a", "t.txt", None, "text/plain", b"hello")
    assert result["rev"].startswith("1-")
    result = db.put_attachment("a", "u.bin", result["rev"], "application/x", b"\x00\x01")
    rev, att, data = db.get_attachment("a", "u.bin")
    assert (rev, att["content_type"], att["revpos"], data) == (result["rev"], "application/x", 2, b"\x00\x01")
    with pytest.raises(Conflict):
        db.put_attachment("a", "v", None, "text/plain", b"")
    with pytest.raises(Conflict):
        db.put_attachment("a", "v", "1-" + h("0"), "text/plain", b"")
    result = db.delete_attachment("a", "t.txt", result["rev"])
    assert list(db.get("a")["_attachments"]) == ["u.bin"]
    with pytest.raises(NotFound):
        db.delete_attachment("a", "t.txt", result["rev"])
    check_counts(db)


# ---------------------------------------------------------------------------------------------------------
# Reading: rev, revs, revs_info, conflicts, open_revs, latest, local_seq, meta


def test_revs_and_revs_info(db):
    rev1 = put(db, {"_id": "a", "v": 1})
    rev2 = put(db, {"_id": "a", "_rev": rev1, "v": 2})
    rev3 = put(db, {"_id": "a", "_rev": rev2, "_deleted": True})
    doc = db.get("a", rev3, revs=True, revs_info=True)
    assert doc["_revisions"] == {"start": 3, "ids": [r.split("-")[1] for r in (rev3, rev2, rev1)]}
    assert doc["_revs_info"] == [{"rev": rev3, "status": "deleted"}, {"rev": rev2, "status": "available"},
                                 {"rev": rev1, "status": "available"}]
    assert db.get("a", rev1, revs=True)["_revisions"] == {"start": 1, "ids": [rev1.split("-")[1]]}


def test_conflicts_are_shown_on_the_winner_only(db):
    conflicted(db)
    assert "_conflicts" not in db.get("a", f"2-{h('b')}", conflicts=True)
    meta = db.get("a", meta=True)
    assert meta["_conflicts"] == [f"2-{h('b')}"] and meta["_deleted_conflicts"] == [f"3-{h('f')}"]
    assert [info["rev"] for info in meta["_revs_info"]] == [f"3-{h('d')}", f"2-{h('c')}", f"1-{h('a')}"]


def test_open_revs(db):
    conflicted(db)
    all_revs = [row["ok"]["_rev"] for row in db.open_revs("a", "all")]
    assert all_revs == [f"2-{h('b')}", f"3-{h('d')}", f"3-{h('f')}"]  # CouchDB's order: lowest first
    assert db.open_revs("a", [f"2-{h('b')}", "9-" + h("9"), f"2-{h('b')}"]) == [
        {"ok": {"_id": "a", "_rev": f"2-{h('b')}", "v": "b"}}, {"missing": "9-" + h("9")}]
    # A known revision without a body (an ancestor that only arrived in _revisions) is missing too.
    assert db.open_revs("a", [f"1-{h('a')}"]) == [{"missing": f"1-{h('a')}"}]
    with pytest.raises(NotFound):
        db.open_revs("nope", "all")
    assert db.open_revs("nope", ["1-" + h("a")]) == [{"missing": "1-" + h("a")}]


def test_open_revs_with_latest_and_revs(db):
    # PouchDB without _bulk_get: GET ?open_revs=[..]&revs=true&latest=true. `revs` is both the list and
    # a flag, so the list is positional-only.
    conflicted(db)
    rows = db.open_revs("a", [f"1-{h('a')}", f"2-{h('c')}"], revs=True, latest=True)
    assert [row["ok"]["_rev"] for row in rows] == [f"2-{h('b')}", f"3-{h('d')}", f"3-{h('f')}"]
    assert rows[1]["ok"]["_revisions"] == {"start": 3, "ids": [h("d"), h("c"), h("a")]}
    assert rows[2]["ok"]["_deleted"] is True


def test_get_with_latest_gives_the_winning_descendant(db):
    conflicted(db)
    assert db.get("a", f"2-{h('c')}", latest=True)["_rev"] == f"3-{h('d')}"
    # CouchDB 3.4.3 opens the winner whatever rev says (chttpd_db:db_doc_req/3), even another branch's.
    assert db.get("a", f"2-{h('b')}", latest=True)["_rev"] == f"3-{h('d')}"


def test_local_seq(db):
    put(db, {"_id": "a"})
    put(db, {"_id": "b"})
    assert db.get("b", local_seq=True)["_local_seq"] == 2


def test_bulk_get(db):
    conflicted(db)
    put(db, {"_id": "b", "_attachments": {"t": {"data": HELLO}}})
    rows = db.bulk_get([{"id": "a", "rev": f"2-{h('b')}"}, {"id": "b"}, {"id": "a", "rev": "7-" + h("7")},
                        {"id": "nope"}, {"rev": "1-x"}], revs=True, latest=True, attachments=True)
    assert rows[0] == {"id": "a", "docs": [{"ok": {"_id": "a", "_rev": f"2-{h('b')}", "v": "b",
                                                   "_revisions": {"start": 2, "ids": [h("b"), h("a")]}}}]}
    assert rows[1]["docs"][0]["ok"]["_attachments"]["t"]["data"] == HELLO
    assert rows[2]["docs"] == [{"error": {"id": "a", "rev": "7-" + h("7"), "error": "not_found",
                                          "reason": "missing"}}]
    # As CouchDB 3.4.3 answers them: "undefined" when no rev was asked, no id is a bad request.
    assert rows[3]["docs"] == [{"error": {"id": "nope", "rev": "undefined", "error": "not_found",
                                          "reason": "missing"}}]
    assert rows[4] == {"id": None, "docs": [{"error": {"id": None, "rev": None, "error": "bad_request",
                                                       "reason": "document id missed"}}]}
    # Without a rev, every leaf, the deleted one too, lowest first.
    [every] = db.bulk_get([{"id": "a"}])
    assert [(doc["ok"]["_rev"], doc["ok"].get("_deleted")) for doc in every["docs"]] == [
        (f"2-{h('b')}", None), (f"3-{h('d')}", None), (f"3-{h('f')}", True)]


# ---------------------------------------------------------------------------------------------------------
# _local documents: unversioned (0-N), never in _changes or _all_docs, no seq


def test_local_documents(db):
    """CouchDB 3.4.3 checks no revision of a _local document: a write names 0-N and makes 0-(N+1)."""
    assert put(db, {"_id": "_local/x", "v": 1}) == "0-1"
    assert put(db, {"_id": "_local/x", "v": 2}) == "0-1"
    assert put(db, {"_id": "_local/x", "_rev": "0-7", "v": 3}) == "0-8"
    with pytest.raises(BadRequest):
        db.put({"_id": "_local/x", "_rev": "1-" + h("a"), "v": 2})
    assert put(db, {"_id": "_local/x", "_rev": "0-1", "v": 2}) == "0-2"
    assert db.get("_local/x") == {"_id": "_local/x", "_rev": "0-2", "v": 2}
    assert db._storage.list_local() == [("_local/x", 2)]
    assert put(db, {"_id": "_local/x", "_rev": "0-2", "_deleted": True}) == "0-0"
    with pytest.raises(NotFound):
        db.get("_local/x")
    with pytest.raises(NotFound):
        db.delete_local("_local/x")
    assert db.put_local({"_id": "_local/y", "v": 1})["rev"] == "0-1"
    with pytest.raises(NotFound):
        db.delete_local("_local/y", "0-2")
    assert db.delete_local("_local/y", "0-1")["rev"] == "0-0"
    assert db.put_local({"_id": "_local/z", "_deleted": True})["rev"] == "0-0"
    # None of it is a change, a document, or a sequence.
    assert (db.update_seq, db.doc_count, db.doc_del_count) == (0, 0, 0)
    assert list(db.change_rows()) == [] and list(db.all_docs()) == []
    check_counts(db)


def test_local_documents_in_bulk(db):
    rows = db.update_docs([{"_id": "_local/x"}, {"_id": "_local/x"}, {"_id": "a"}])
    assert [row.get("rev") or row["error"] for row in rows] == ["0-1", "0-1", rows[2]["rev"]]
    assert db.update_docs([{"_id": "_local/x", "_rev": "0-1", "v": 9}], new_edits=False) == []
    assert db.get("_local/x") == {"_id": "_local/x", "_rev": "0-2", "v": 9}
    assert db.update_seq == 1
    check_counts(db)


# ---------------------------------------------------------------------------------------------------------
# _bulk_docs


def test_bulk_docs_reports_errors_per_document(db):
    rev = put(db, {"_id": "a", "_attachments": {"t": {"data": HELLO}}})
    rows = db.update_docs([
        {"_id": "new"},
        {"_id": "a", "v": "no rev"},
        {"_id": "a", "_rev": rev, "_attachments": {"nope": {"stub": True}}},
        {"_id": "new", "v": "same id twice"},
        {"_id": "a", "_rev": rev, "v": "good"},
    ])
    for row in rows:
        row.pop("exception", None)
    assert rows[0]["ok"] is True and rows[4]["ok"] is True and rows[4]["rev"].startswith("2-")
    assert rows[1] == {"id": "a", "error": "conflict", "reason": "Document update conflict."}
    # chttpd_db:update_doc_result_to_json/2: an interactive edit's error row has no rev.
    assert rows[2] == {"id": "a", "error": "missing_stub", "reason": "Invalid attachment stub in a for nope"}
    assert rows[3] == {"id": "new", "error": "conflict", "reason": "Document update conflict."}
    assert db.get("a")["v"] == "good" and db.update_seq == 3
    check_counts(db)


def test_bulk_docs_with_new_edits_false_omits_successes(db):
    rows = db.update_docs([{"_id": "a", "_rev": "1-" + h("a")}, {"_id": "b", "_rev": "1-" + h("b")}],
                          new_edits=False)
    assert rows == [] and db.doc_count == 2


@pytest.mark.parametrize("doc", [
    pytest.param(["not", "an", "object"], id="not an object"),
    pytest.param({"_id": "a", "_bad": 1}, id="an unknown special member"),
    pytest.param({"_id": "_bad"}, id="an id with a reserved prefix"),
    pytest.param({"_id": 5}, id="an id that is not a string"),
    pytest.param({"_id": "a", "_attachments": []}, id="_attachments not an object"),
])
def test_a_malformed_document_fails_the_whole_batch(db, doc):
    with pytest.raises(BadRequest):
        db.update_docs([{"_id": "first"}, doc])
    assert db.update_seq == 0
    check_counts(db)


def test_documents_over_the_size_limit_are_413(tmp_path):
    with closing(Couch(tmp_path, max_document_size=100)) as couch:
        db = couch.create_db("db")
        with pytest.raises(TooLarge) as err:
            db.put({"_id": "a", "pad": "x" * 100})
        assert (err.value.status, err.value.error, err.value.reason) == (413, "document_too_large", "a")
        # Attachments do not count towards the limit.
        put(db, {"_id": "b", "_attachments": {"t": {"data": base64.b64encode(b"x" * 1000).decode()}}})


# ---------------------------------------------------------------------------------------------------------
# _revs_diff


def test_revs_diff(db):
    conflicted(db)
    put(db, {"_id": "b"})
    known = f"3-{h('d')}"
    assert db.revs_diff({"a": [known, f"1-{h('a')}"], "b": [db.get("b")["_rev"]]}) == {}
    # Sorted for a known document (CouchDB's key tree order), as asked for an unknown one.
    asked = {"a": [known, "4-" + h("x"), "2-" + h("y")], "z": ["2-" + h("z"), "1-" + h("z")]}
    assert db.revs_diff(asked) == {
        "a": {"missing": ["2-" + h("y"), "4-" + h("x")],
              "possible_ancestors": [f"3-{h('d')}", f"2-{h('b')}", f"3-{h('f')}"]},
        "z": {"missing": ["2-" + h("z"), "1-" + h("z")]}}
    with pytest.raises(BadRequest):
        db.revs_diff({"a": "1-" + h("a")})
    with pytest.raises(BadRequest):
        db.revs_diff(["a"])
    with pytest.raises(BadRequest):
        db.revs_diff({"a": ["nope"]})


# ---------------------------------------------------------------------------------------------------------
# _all_docs


@pytest.fixture
def abc(db, monkeypatch):
    """Live a, b, d, e, f, _design/x; deleted c; a _local document. Pages of 2 rows, so every listing
    below crosses pages."""
    for doc_id in "abcdef":
        put(db, {"_id": doc_id})
    put(db, {"_id": "c", "_rev": db.get("c")["_rev"], "_deleted": True})
    put(db, {"_id": "_design/x"})
    put(db, {"_id": "_local/l"})
    monkeypatch.setattr(database, "PAGE_SIZE", 2)
    return db


ALL_DOCS_CASES = [
    ({}, "_design/x a b d e f"),
    ({"start_key": "b"}, "b d e f"),
    ({"start_key": "bb", "end_key": "e"}, "d e"),
    ({"start_key": "b", "end_key": "e", "inclusive_end": False}, "b d"),
    ({"end_key": "c"}, "_design/x a b"),
    ({"descending": True}, "f e d b a _design/x"),
    ({"descending": True, "start_key": "e", "end_key": "b"}, "e d b"),
    ({"descending": True, "start_key": "e", "end_key": "b", "inclusive_end": False}, "e d"),
    ({"limit": 3}, "_design/x a b"),
    ({"limit": 0}, ""),
    ({"skip": 2, "limit": 3}, "b d e"),
    ({"skip": 5}, "f"),
    ({"skip": 9}, ""),
    ({"descending": True, "skip": 1, "limit": 2}, "e d"),
    ({"start_key": "e", "end_key": "b"}, ""),
]


@pytest.mark.parametrize("query, ids", ALL_DOCS_CASES, ids=[str(q) for q, _ in ALL_DOCS_CASES])
def test_all_docs_ranges(abc, query, ids):
    rows = list(abc.all_docs(**query))
    assert [doc_id for doc_id, _ in rows] == ids.split()
    assert all(rev == abc.get(doc_id)["_rev"] for doc_id, rev in rows)


def test_all_docs_offset_and_lookup(abc):
    assert abc._storage.count_before("b", False) == 2
    assert abc._storage.count_before("d", True) == 2
    assert abc._storage.count_before(None, False) == 0
    assert abc.lookup("a") == (abc.get("a")["_rev"], False)
    assert abc.lookup("c")[1] is True
    assert abc.lookup("zz") is None


# ---------------------------------------------------------------------------------------------------------
# _changes


def change_ids(rows):
    return [(doc_id, seq) for doc_id, seq, *_ in rows]


def test_changes(abc):
    # a..f got seqs 1..6, c's deletion 7, _design/x 8 (the _local document none).
    rows = list(abc.change_rows())
    assert change_ids(rows) == [("a", 1), ("b", 2), ("d", 4), ("e", 5), ("f", 6), ("c", 7), ("_design/x", 8)]
    assert [deleted for doc_id, _, _, deleted, _ in rows if doc_id == "c"] == [True]
    assert change_ids(abc.change_rows(5)) == [("f", 6), ("c", 7), ("_design/x", 8)]
    assert change_ids(abc.change_rows(2, limit=3)) == [("d", 4), ("e", 5), ("f", 6)]
    assert change_ids(abc.change_rows(8)) == [] and change_ids(abc.change_rows(99)) == []
    assert change_ids(abc.change_rows(0, limit=0)) == []
    assert change_ids(abc.change_rows(descending=True, limit=3)) == [("_design/x", 8), ("c", 7), ("f", 6)]
    assert change_ids(abc.change_rows(6, descending=True, limit=2)) == [("e", 5), ("d", 4)]
    # An update moves a document to the end of the feed.
    put(abc, {"_id": "a", "_rev": abc.get("a")["_rev"]})
    assert change_ids(abc.change_rows(7)) == [("_design/x", 8), ("a", 9)]


def test_changes_rows_carry_the_winner_and_every_leaf(db):
    conflicted(db)
    [(doc_id, seq, winner, deleted, tree)] = list(db.change_rows())
    assert (doc_id, seq, winner, deleted) == ("a", 3, f"3-{h('d')}", False)
    # style=all_docs lists every leaf, winner first.
    assert [revtree.format_rev(r) for r in revtree.collect_leaves(tree)] == [
        f"3-{h('d')}", f"2-{h('b')}", f"3-{h('f')}"]
    assert db.doc_at("a", tree, conflicts=True)["_conflicts"] == [f"2-{h('b')}"]


def test_wait_for_change():
    async def scenario():
        with closing(Couch(None)) as couch:
            db = couch.create_db("db")
            assert await db.wait_for_change(0, 0.01) is False
            waiter = asyncio.ensure_future(db.wait_for_change(0, 5))
            await asyncio.sleep(0)
            db.put({"_id": "a"})
            assert await waiter is True
            assert await db.wait_for_change(0, 0) is True

    asyncio.run(scenario())


# ---------------------------------------------------------------------------------------------------------
# Counts and sequences: deletes, undeletes, failed transactions


def test_counts_follow_deletes_and_recreations(db):
    revs = {doc_id: put(db, {"_id": doc_id}) for doc_id in "abc"}
    assert (db.doc_count, db.doc_del_count) == (3, 0)
    deleted = put(db, {"_id": "a", "_rev": revs["a"], "_deleted": True})
    assert (db.doc_count, db.doc_del_count) == (2, 1)
    with pytest.raises(Conflict):
        db.put({"_id": "a", "_rev": deleted, "_deleted": True})
    assert (db.doc_count, db.doc_del_count) == (2, 1)
    put(db, {"_id": "a", "back": True})
    assert (db.doc_count, db.doc_del_count) == (3, 0)
    put(db, {"_id": "b", "_rev": revs["b"], "v": 2})
    assert (db.doc_count, db.doc_del_count, db.update_seq) == (3, 0, 6)


class Boom(Exception):
    pass


def test_a_failed_transaction_changes_nothing(db, monkeypatch):
    rev = put(db, {"_id": "a"})
    put(db, {"_id": "b"})
    real_put_doc = db._storage.put_doc
    calls = []

    def failing_put_doc(*args):
        calls.append(args[0])
        if len(calls) == 2:
            raise Boom("disk full")
        return real_put_doc(*args)

    monkeypatch.setattr(db._storage, "put_doc", failing_put_doc)
    with pytest.raises(Boom):
        db.update_docs([{"_id": "a", "_rev": rev, "_deleted": True}, {"_id": "c"}])
    assert len(calls) == 2
    check_counts(db)
    assert (db.doc_count, db.doc_del_count, db.update_seq) == (2, 0, 2)
    assert db.get("a")["_rev"] == rev and change_ids(db.change_rows()) == [("a", 1), ("b", 2)]
    with pytest.raises(NotFound):
        db.get("c")
    monkeypatch.undo()
    put(db, {"_id": "c"})
    assert db.update_seq == 3


def test_a_failed_commit_changes_nothing(db, monkeypatch):
    put(db, {"_id": "a"})
    conn = db._storage.conn
    monkeypatch.setattr(db._storage, "conn", FailingCommit(conn))
    with pytest.raises(sqlite3.OperationalError):
        db.put({"_id": "b"})
    monkeypatch.undo()
    check_counts(db)
    assert (db.doc_count, db.update_seq) == (1, 1)


class FailingCommit:
    """A connection whose COMMIT fails, as a full disk would make it."""

    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def execute(self, sql, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)


def test_storage_survives_a_commit_that_sqlite_refuses(db):
    """A real failed COMMIT: a deferred foreign key checked only at commit. SQLite keeps the transaction
    open after it, so the storage must roll back, or every later write fails with "cannot start a
    transaction within a transaction"."""
    conn = db._storage.conn
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE test_parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE test_child "
                 "(pid INTEGER REFERENCES test_parent (id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError):
        with db._storage.transaction():
            db._storage.put_meta("half", 1)
            conn.execute("INSERT INTO test_child VALUES (42)")
    assert not conn.in_transaction and db._storage.get_meta("half") is None
    put(db, {"_id": "a"})
    assert db.get("a")["_rev"].startswith("1-")


# ---------------------------------------------------------------------------------------------------------
# revs_limit, compaction


@pytest.mark.parametrize("limit", [0, -1, True, "5", 2.5, None])
def test_bad_revs_limit_is_400(db, limit):
    with pytest.raises(BadRequest):
        db.set_revs_limit(limit)
    assert db.revs_limit == revtree.DEFAULT_REVS_LIMIT


def test_revs_limit_stems_on_write(db):
    db.set_revs_limit(3)
    revs = [put(db, {"_id": "a", "v": 0})]
    for i in range(1, 6):
        revs.append(put(db, {"_id": "a", "_rev": revs[-1], "v": i}))
    doc = db.get("a", revs=True, revs_info=True)
    assert doc["_revisions"] == {"start": 6, "ids": [r.split("-")[1] for r in reversed(revs[3:])]}
    assert len(doc["_revs_info"]) == 3
    # Stemmed revisions are gone from the tree: unknown to _revs_diff and to GET ?rev=.
    assert db.revs_diff({"a": [revs[0]]}) == {"a": {"missing": [revs[0]]}}
    with pytest.raises(NotFound):
        db.get("a", revs[0])
    # A conflict branch keeps its leaf, however old.
    replicate(db, "a", f"2-{h('z')} {revs[0]}")
    assert db.get("a", conflicts=True)["_conflicts"] == [f"2-{h('z')}"]


def test_compaction_drops_old_bodies_and_unreferenced_attachments(couch):
    db = couch.create_db("big")
    pad = "x" * 20_000
    rev = put(db, {"_id": "a", "pad": pad, "_attachments": {"t": {"data": HELLO}}})
    for i in range(8):
        rev = put(db, {"_id": "a", "_rev": rev, "i": i, "pad": pad + str(i)})
    put(db, {"_id": "b", "_attachments": {"w": {"data": WORLD}}})
    conflicted(db)
    assert len(db._storage.list_revs("a")) == 9 + 3
    size_before = db.info()["sizes"]["file"]
    db.compact()
    # Only leaves keep bodies: a's four leaves (9-..., 2-b, 3-d, 3-f†) and b's only revision.
    assert sorted(db._storage.list_revs("a")) == sorted([rev, f"2-{h('b')}", f"3-{h('d')}", f"3-{h('f')}"])
    assert len(db._storage.list_revs("b")) == 1
    # "hello" was only on a's first revision, which is gone; "world" is still on b.
    world_digest = "md5-" + base64.b64encode(hashlib.md5(b"world").digest()).decode()
    assert db._storage.list_attachments() == [world_digest]
    assert db.get("a", revs_info=True)["_revs_info"][1]["status"] == "missing"
    assert db.get("a")["i"] == 7 and db.get_attachment("b", "w")[2] == b"world"
    if couch.data_dir is not None:
        assert db.info()["sizes"]["file"] < size_before / 2
    check_counts(db)


# ---------------------------------------------------------------------------------------------------------
# info and settings


def test_info_and_security(db):
    info = db.info()
    assert info["db_name"] == "db" and info["update_seq"] == 0 and info["sizes"]["file"] > 0
    # CouchDB 3.x's default_security = admin_only, applied when the database is created.
    assert db.security == {"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}}
    db.set_security({"admins": {"names": ["bob"], "roles": []}})
    assert db.security == {"admins": {"names": ["bob"], "roles": []}}
    assert db._storage.get_meta("security") == db.security
