"""Issue 12 item 4: a path segment that is not UTF-8 (``%FF%FE``) names no document. It used to become
U+FFFD, so different raw ids reached one document. Now writes are refused and reads find nothing, with
Apache CouchDB 3.4.3's answers, checked against CouchDB itself where it is available."""

from helpers import http

# (method, path, body, status, error, reason): CouchDB 3.4.3's answers, recorded 2026-12 and pinned here.
CASES = [
    ("PUT", "/{db}/%FF%FE", {"a": 1}, 400, "illegal_docid", "Document id must be valid UTF-8"),
    ("PUT", "/{db}/%C0%80", {"a": 1}, 400, "illegal_docid", "Document id must be valid UTF-8"),
    ("PUT", "/{db}/_design/%FF", {"a": 1}, 400, "illegal_docid", "Document id must be valid UTF-8"),
    ("PUT", "/{db}/_local/%FF", {"a": 1}, 400, "illegal_docid", "Document id must be valid UTF-8"),
    ("GET", "/{db}/%FF%FE", None, 404, "not_found", "missing"),
    ("GET", "/{db}/_design/%FF", None, 404, "not_found", "missing"),
    ("GET", "/{db}/_local/%FF", None, 404, "not_found", "missing"),
    ("DELETE", "/{db}/%FF%FE?rev={rev}", None, 404, "not_found", "missing"),
    ("DELETE", "/{db}/_local/%FF", None, 404, "not_found", "missing"),
    ("GET", "/{db}/doc/%FF", None, 404, "not_found", "Document is missing attachment"),
    ("PUT", "/{db}/doc/%FF?rev={rev}", b"x", 400, "bad_request", "Attachment name is not UTF-8 encoded"),
    ("DELETE", "/{db}/doc/%FF?rev={rev}", None, 400, "bad_request", "Attachment name is not UTF-8 encoded"),
    ("GET", "/%FF", None, 404, "not_found", "Database does not exist."),
    ("DELETE", "/%FF", None, 404, "not_found", "Database does not exist."),
]


def _prepare(base):
    db = "utf8-ids"
    http("DELETE", base + db)
    assert http("PUT", base + db)[0] == 201
    status, _, written = http("PUT", base + db + "/doc", {"a": 1})
    assert status == 201
    # The document a U+FFFD reading of %FF%FE would reach.
    assert http("PUT", base + db + "/%EF%BF%BD%EF%BF%BD", {"replacement": True})[0] == 201
    return db, written["rev"]


def _check(base):
    db, rev = _prepare(base.rstrip("/") + "/")
    for method, path, body, status, error, reason in CASES:
        url = base.rstrip("/") + path.format(db=db, rev=rev)
        headers = {"Content-Type": "application/octet-stream"} if isinstance(body, bytes) else None
        got, _, answer = http(method, url, body, headers=headers)
        assert (got, answer.get("error"), answer.get("reason")) == (status, error, reason), (method, path)
    status, _, doc = http("GET", base.rstrip("/") + f"/{db}/%EF%BF%BD%EF%BF%BD")
    assert status == 200 and doc["replacement"] is True


def test_invalid_utf8_ids_natively(native):
    _check(native.url)


def test_the_same_answers_as_couchdb(couchdb):
    _check(couchdb.url)


def test_put_database_name_not_utf8_is_an_illegal_name(native):
    status, _, answer = http("PUT", native.url + "%FF")
    assert status == 400 and answer["error"] == "illegal_database_name"

