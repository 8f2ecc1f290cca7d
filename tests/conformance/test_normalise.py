"""Normalisation (``normalise.py``): what differs between any two CouchDBs goes, the rest stays."""

from .normalise import Normaliser, parse_body

COUCH_SEQ = "3-g1AAAABbeJzLYWBgYMxgTmEQT84vTc5ISYo3NTA3N3cwNDLXMwBCwxygAqZEhjwWhv9AkJXBnMiaCxRi"
HASH_A, HASH_B = "23202479633c2b380f79507a776743d5", "851b5a712e701d48efe11cfc84c2d3ca"


class _Headers(dict):
    def get(self, name, default=None):
        return next((v for k, v in self.items() if k.lower() == name.lower()), default)


def test_hashes_become_placeholders_by_first_appearance():
    norm = Normaliser()
    body = norm.value({"rev": f"2-{HASH_A}", "_revisions": {"ids": [HASH_A, HASH_B]}, "again": f"1-{HASH_B}"})
    assert body == {"_revisions": {"ids": ["⟨h1⟩", "⟨h2⟩"]}, "again": "1-⟨h2⟩", "rev": "2-⟨h1⟩"}
    # Revisions the corpus wrote itself are no 32-digit hashes and stay.
    assert norm.value({"rev": "2-b"}) == {"rev": "2-b"}


def test_sequences_of_both_forms_become_the_same_placeholders():
    couchdb, ours = Normaliser(), Normaliser()
    assert couchdb.value({"last_seq": COUCH_SEQ, "update_seq": COUCH_SEQ}) == {
        "last_seq": "⟨s1⟩", "update_seq": "⟨s1⟩"}
    assert ours.value({"last_seq": 3, "update_seq": 3}) == {"last_seq": "⟨s1⟩", "update_seq": "⟨s1⟩"}
    assert couchdb.value({"seq": "4-g1BB"}) == {"seq": "⟨s2⟩"} == ours.value({"seq": 4})


def test_times_sizes_and_secrets_go():
    norm = Normaliser()
    assert norm.value({"instance_start_time": "1796604518", "sizes": {"file": 1, "active": 2},
                       "salt": "x", "derived_key": "y", "doc_count": 3}) == {
        "instance_start_time": "<time>", "sizes": {"active": "<size>", "file": "<size>"},
        "salt": "<secret>", "derived_key": "<secret>", "doc_count": 3}


def test_headers_keep_what_clients_read():
    headers = _Headers({
        "Content-Type": "application/json", "ETag": '"DHUGHH80EARQRUQ60AJ61GKLV"', "Server": "CouchDB/3.4.3",
        "X-Couch-Request-ID": "abc", "Location": "http://127.0.0.1:5984/db/doc", "Cache-Control": "no-cache",
        "Set-Cookie": "AuthSession=YWRt; Version=1; Expires=Mon, 07-Dec-2026 01:03:20 GMT; Max-Age=600"})
    exchange = Normaliser().exchange(201, headers, b'{"ok":true}')
    assert exchange == {"status": 201, "body": {"ok": True}, "headers": {
        "content-type": "application/json", "etag": "⟨e1⟩", "location": "/db/doc",
        "cache-control": "no-cache",
        "set-cookie": "AuthSession=<cookie>; Version=1; Expires=<date>; Max-Age=600"}}


def test_bodies_of_every_kind():
    assert parse_body("application/json", b"") is None
    assert parse_body("application/json", b'{"a":1}\n{"b":2}\n\n') == {"lines": [{"a": 1}, {"b": 2}]}
    assert parse_body("application/json", b"not json") == "not json"
    assert parse_body("text/event-stream", b"\n") == []
    assert parse_body("text/event-stream", b'data: {"seq":"1-g"}\nid: "1-g"\n\n') == [
        {"data": {"seq": "1-g"}, "seq": "1-g"}]
    multipart = (b"--XYZ\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}\r\n"
                 b"--XYZ\r\nContent-Range: bytes 0-1/9\r\n\r\nab\r\n--XYZ--")
    assert parse_body("multipart/mixed", multipart, "XYZ") == [
        {"headers": ["content-type: application/json"], "body": {}},
        {"headers": ["content-range: bytes 0-1/9"], "body": "ab"}]
