"""The data set and the equality check of the CouchDB interop matrix (tests/interop/test_couchdb_matrix.py).

**The data set** (``dataset()``) is deterministic and gives every revision id: it is written with
``_bulk_docs`` ``new_edits: false``, so Apache CouchDB and browsercouch seeded with it hold the same
revision trees, and a replica can be compared with its source leaf by leaf. 1,000 documents ``doc-0000``..:

- attachments: a small text one (``note.txt``, every 10th), a compressible one (``records.json``, about
  5 KB of repetitive JSON, every 10th), a binary one (``blob.bin``, 1-3 KB of noise, every 20th), and one
  of 3 MB (``big.bin`` on ``doc-0500``); CouchDB stores the first two kinds gzip-encoded. Documents at the
  second generation carry some of them from the first (``revpos`` 1), as replicated documents do;
- conflicts: every 50th document has two live branches under one root, every 100th a third, deleted one;
  one branch of every 100th carries an attachment the other lacks;
- deletions: every 25th document is a tombstone over a first revision;
- a design document with a view; and ``_local`` documents, which replication must never copy.

**The fingerprint** (``fingerprint(db_url)``) is what a replica must agree on with its source:
``{id: {"winner", "deleted", "conflicts", "leaves": {rev: leaf}}}`` where ``winner``, ``deleted`` and
``conflicts`` are the server's own answer (``_changes?style=all_docs&include_docs=true&conflicts=true``),
and each leaf, read with ``_bulk_get?revs=true&attachments=true``, holds ``deleted``, the revision path
``revisions``, the ``body`` and every attachment's ``content_type``, ``digest``, ``length``, ``revpos`` and
the sha256 of its bytes as read back (decoded); winners' attachments are also read with a plain ``GET``,
the way most clients read them, and must give the same bytes. ``differences(a, b)`` lists the documents
whose prints differ. ``expected_fingerprint(data)`` is the print CouchDB gives of the data set: the
revisions, winners and bytes we wrote, and CouchDB's digests (md5 of the gzip-encoded bytes for the
compressible types, CouchDB's ``[attachments]`` defaults; md5 of the bytes for the others).

Only loopback addresses are ever targets (``helpers.http``).
"""

import base64
import hashlib
import json
import random
import urllib.parse
import zlib
from dataclasses import dataclass, field
from http.client import HTTPConnection

from helpers import http

DOCS = 1000
BIG_ATTACHMENT = 3 * 1024 * 1024
BIG_DOC = "doc-0500"
DESIGN_DOC = "_design/matrix"
# _bulk_docs requests are cut at this many documents or bytes of JSON (the 3 MB attachment goes alone).
BATCH_DOCS = 200
BATCH_BYTES = 1024 * 1024
# Leaves per _bulk_get request when reading a fingerprint.
READ_BATCH = 100
# CouchDB's [attachments] defaults: these types are stored gzip-encoded (level 8), and the digest is
# the md5 of the encoded bytes.
COMPRESSIBLE_TYPES = ("text/", "application/javascript", "application/json", "application/xml")
COMPRESSION_LEVEL = 8
TIMEOUT = 120.0


def revid(*parts):
    """A deterministic 32-hex revision id."""
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def noise(seed, size):
    """``size`` reproducible pseudo-random bytes (incompressible)."""
    return random.Random(seed).randbytes(size)


def couchdb_digest(data, content_type):
    """The ``digest`` Apache CouchDB 3.4.3 gives an attachment it stores (its default settings)."""
    if content_type.startswith(COMPRESSIBLE_TYPES):
        compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, 31, 8)
        data = compressor.compress(data) + compressor.flush()
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()


@dataclass
class Attachment:
    content_type: str
    data: bytes
    revpos: int

    def stub(self):
        """The attachment as ``_bulk_docs`` takes it inline."""
        return {"content_type": self.content_type, "revpos": self.revpos,
                "data": base64.b64encode(self.data).decode()}


@dataclass
class Leaf:
    """One leaf revision: ``path`` is its revision ids, leaf first (``_revisions.ids``)."""

    doc_id: str
    path: list
    body: dict
    deleted: bool = False
    attachments: dict = field(default_factory=dict)

    @property
    def rev(self):
        return f"{len(self.path)}-{self.path[0]}"

    def doc(self):
        """The leaf as a ``new_edits: false`` document."""
        revisions = {"start": len(self.path), "ids": self.path}
        doc = {"_id": self.doc_id, "_rev": self.rev, "_revisions": revisions, **self.body}
        if self.deleted:
            doc["_deleted"] = True
        if self.attachments:
            doc["_attachments"] = {name: att.stub() for name, att in self.attachments.items()}
        return doc


@dataclass
class Dataset:
    """The leaves to write and the ``_local`` documents (``{id: body}``) to put beside them."""

    leaves: list
    local_docs: dict

    def docs(self):
        return [leaf.doc() for leaf in self.leaves]

    def counts(self):
        return counts(expected_fingerprint(self))


def _attachments(i, generation):
    """The attachments of the ``i``-th document, carried from the first revision when it has two."""
    atts = {}
    if i % 10 == 0:
        atts["note.txt"] = Attachment("text/plain", f"note on doc {i}\n".encode(), 1)
    if i % 10 == 5:
        records = [{"doc": i, "row": row, "label": "compressible"} for row in range(80)]
        atts["records.json"] = Attachment("application/json", json.dumps(records).encode(), generation)
    if i % 20 == 2:
        atts["blob.bin"] = Attachment("application/octet-stream", noise(i, 1024 + 20 * i % 2048), 1)
    if f"doc-{i:04d}" == BIG_DOC:
        atts["big.bin"] = Attachment("application/octet-stream", noise("big", BIG_ATTACHMENT), generation)
    return atts


def _branches(doc_id, body, i):
    """Two live branches under one root; every 100th also a deleted third (3-c over 2-x); branch ``a``
    of every 100th carries an attachment the other branches lack."""
    root = revid(doc_id, "root")
    branch_a = Leaf(doc_id, [revid(doc_id, "a"), root], {**body, "branch": "a"})
    if i % 100 == 57:
        only_here = f"only on branch a of {doc_id}".encode()
        branch_a.attachments["branch.txt"] = Attachment("text/plain", only_here, 2)
    leaves = [branch_a, Leaf(doc_id, [revid(doc_id, "b"), root], {**body, "branch": "b"})]
    if i % 100 == 7:
        leaves.append(Leaf(doc_id, [revid(doc_id, "c"), revid(doc_id, "x"), root], {}, deleted=True))
    return leaves


def _leaves(i):
    doc_id = f"doc-{i:04d}"
    body = {"n": i, "tags": [i % 3, i % 7], "text": f"document {doc_id} " * 4}
    if i % 50 == 7:
        return _branches(doc_id, body, i)
    if i % 25 == 3:
        return [Leaf(doc_id, [revid(doc_id, "deleted"), revid(doc_id, 1)], {}, deleted=True)]
    generation = 1 + i % 2
    path = [revid(doc_id, gen) for gen in range(generation, 0, -1)]
    return [Leaf(doc_id, path, body, attachments=_attachments(i, generation))]


def dataset(docs=DOCS):
    """The matrix's data set (see the module docstring); ``docs`` below 1,000 for quicker checks."""
    leaves = [leaf for i in range(docs) for leaf in _leaves(i)]
    design = {"views": {"by_n": {"map": "function (doc) { if (doc.n !== undefined) emit(doc.n, null); }"}},
              "language": "javascript"}
    leaves.append(Leaf(DESIGN_DOC, [revid(DESIGN_DOC, 1)], design))
    local_docs = {"_local/matrix-a": {"note": "never replicated"}, "_local/matrix-b": {"n": 2}}
    return Dataset(leaves, local_docs)


# --- writing ---------------------------------------------------------------------------------------------

def _batches(docs):
    batch, size = [], 0
    for doc in docs:
        doc_size = len(json.dumps(doc))
        if batch and (len(batch) >= BATCH_DOCS or size + doc_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(doc)
        size += doc_size
    if batch:
        yield batch


def write_leaves(db_url, docs):
    """Write ``docs`` with ``_bulk_docs`` ``new_edits: false``; raises unless every one is stored."""
    for batch in _batches(docs):
        status, _, answer = http("POST", db_url + "/_bulk_docs", {"docs": batch, "new_edits": False},
                                 timeout=TIMEOUT)
        assert status == 201, (status, answer)
        failed = [row for row in answer if "error" in row]
        assert not failed, failed[:5]


def seed(db_url, data):
    """Write the data set into the (empty) database at ``db_url``, ``_local`` documents included."""
    write_leaves(db_url, data.docs())
    for doc_id, body in data.local_docs.items():
        status, _, answer = http("PUT", f"{db_url}/{doc_id}", body)
        assert status == 201, (doc_id, status, answer)


def local_docs_found(db_url, data):
    """The ids of the data set's ``_local`` documents that the database at ``db_url`` holds."""
    return [doc_id for doc_id in data.local_docs if http("GET", f"{db_url}/{doc_id}")[0] != 404]


# --- reading ---------------------------------------------------------------------------------------------

def get_bytes(url, timeout=TIMEOUT):
    """``(status, body bytes)`` of a ``GET``, whatever its content type (``helpers.http`` decodes JSON)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname != "127.0.0.1":
        raise ValueError(f"refusing a non-loopback target: {parts.hostname!r}")
    headers = {}
    if parts.username is not None:
        creds = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
    conn = HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _attachment_print(att):
    """An inline attachment (``attachments=true``: CouchDB gives no ``length`` beside ``data``)."""
    data = base64.b64decode(att["data"]) if "data" in att else None
    return {"content_type": att.get("content_type"), "digest": att.get("digest"), "revpos": att.get("revpos"),
            "length": None if data is None else len(data), "sha256": None if data is None else _sha256(data)}


def _stub_print(att):
    return {key: att.get(key) for key in ("content_type", "digest", "length", "revpos")}


def _leaf_print(doc):
    atts = {name: _attachment_print(att) for name, att in doc.get("_attachments", {}).items()}
    revisions = doc.get("_revisions", {})
    start = revisions.get("start", 0)
    return {"deleted": bool(doc.get("_deleted")),
            "revisions": [f"{start - k}-{rev}" for k, rev in enumerate(revisions.get("ids", []))],
            "body": {key: value for key, value in doc.items() if not key.startswith("_")},
            "atts": atts}


def _read_leaves(db_url, leaves):
    found = {}
    for start in range(0, len(leaves), READ_BATCH):
        status, _, answer = http("POST", db_url + "/_bulk_get?revs=true&attachments=true",
                                 {"docs": leaves[start:start + READ_BATCH]}, timeout=TIMEOUT)
        assert status == 200, (status, answer)
        for result in answer["results"]:
            for got in result["docs"]:
                doc = got.get("ok")
                key = doc["_rev"] if doc else json.dumps(got.get("error"), sort_keys=True)
                found.setdefault(result["id"], {})[key] = _leaf_print(doc) if doc else {"error": got}
    return found


def _document_url(db_url, doc_id):
    if doc_id.startswith("_design/"):
        return f"{db_url}/_design/{urllib.parse.quote(doc_id[8:], safe='')}"
    return f"{db_url}/{urllib.parse.quote(doc_id, safe='')}"


def _read_winner_attachments(db_url, doc_id, winner, leaf):
    """Each of the winner's attachments read with a plain GET: the sha256 of its bytes, or the status."""
    read = {}
    for name in leaf.get("atts", {}):
        url = f"{_document_url(db_url, doc_id)}/{urllib.parse.quote(name)}?rev={winner}"
        status, data = get_bytes(url)
        read[name] = _sha256(data) if status == 200 else status
    return read


def fingerprint(db_url):
    """The print of every document of ``db_url`` (see the module docstring)."""
    status, _, feed = http("GET", db_url + "/_changes?style=all_docs&include_docs=true&conflicts=true",
                           timeout=TIMEOUT)
    assert status == 200, (status, feed)
    leaves = [{"id": row["id"], "rev": change["rev"]} for row in feed["results"] for change in row["changes"]]
    read = _read_leaves(db_url, leaves)
    prints = {}
    for row in feed["results"]:
        doc_id, winner = row["id"], row["doc"]["_rev"]
        doc_leaves = read.get(doc_id, {})
        prints[doc_id] = {
            "winner": winner, "deleted": bool(row.get("deleted")),
            "conflicts": row["doc"].get("_conflicts", []), "leaves": doc_leaves,
            "stubs": {name: _stub_print(att) for name, att in row["doc"].get("_attachments", {}).items()},
            "read": _read_winner_attachments(db_url, doc_id, winner, doc_leaves.get(winner, {})),
        }
    return prints


# --- the expected print ----------------------------------------------------------------------------------

def _winner(leaves):
    """CouchDB's winning leaf: live beats deleted, then the higher generation, then the higher rev id."""
    return max(leaves, key=lambda leaf: (not leaf.deleted, len(leaf.path), leaf.path[0]))


def expected_fingerprint(data):
    """The fingerprint CouchDB gives of the data set ``data`` (its digests: see ``couchdb_digest``)."""
    by_id = {}
    for leaf in data.leaves:
        by_id.setdefault(leaf.doc_id, []).append(leaf)
    prints = {}
    for doc_id, leaves in by_id.items():
        winner = _winner(leaves)
        conflicts = [leaf.rev for leaf in sorted(leaves, key=lambda leaf: (len(leaf.path), leaf.path[0]),
                                                 reverse=True)
                     if leaf is not winner and not leaf.deleted]
        prints[doc_id] = {
            "winner": winner.rev, "deleted": winner.deleted, "conflicts": conflicts,
            "leaves": {leaf.rev: _expected_leaf(leaf) for leaf in leaves},
            "stubs": {name: _stub_print(att) for name, att in _expected_leaf(winner)["atts"].items()},
            "read": {name: _sha256(att.data) for name, att in winner.attachments.items()},
        }
    return prints


def _expected_leaf(leaf):
    atts = {name: {"content_type": att.content_type, "digest": couchdb_digest(att.data, att.content_type),
                   "length": len(att.data), "revpos": att.revpos, "sha256": _sha256(att.data)}
            for name, att in leaf.attachments.items()}
    revisions = [f"{len(leaf.path) - k}-{rev}" for k, rev in enumerate(leaf.path)]
    return {"deleted": leaf.deleted, "revisions": revisions, "body": leaf.body, "atts": atts}


# --- comparing -------------------------------------------------------------------------------------------

def without_digests(prints):
    """``prints`` with every attachment's ``digest`` left out (for checks where only bytes must agree)."""
    stripped = json.loads(json.dumps(prints))
    for doc in stripped.values():
        in_leaves = [att for leaf in doc["leaves"].values() for att in leaf.get("atts", {}).values()]
        for att in [*doc["stubs"].values(), *in_leaves]:
            att.pop("digest", None)
    return stripped


def differences(a, b, limit=None):
    """``[(id, what differs, a's print, b's print), ...]`` for the documents whose prints differ (the
    first ``limit`` of them; missing on one side included); ``[]`` when the fingerprints are equal."""
    found = []
    for doc_id in sorted(set(a) | set(b)):
        if a.get(doc_id) != b.get(doc_id):
            found.append((doc_id, _what_differs(a.get(doc_id), b.get(doc_id)), a.get(doc_id), b.get(doc_id)))
            if limit is not None and len(found) >= limit:
                break
    return found


def _short(value, limit=80):
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _what_differs(a, b):
    """``"what: a's value != b's value; ..."`` for each part of two document prints that differs."""
    if a is None or b is None:
        return "missing on one side"
    found = [(key, a.get(key), b.get(key)) for key in ("winner", "deleted", "conflicts", "stubs", "read")
             if a.get(key) != b.get(key)]
    leaves_a, leaves_b = a.get("leaves", {}), b.get("leaves", {})
    if set(leaves_a) != set(leaves_b):
        found.append(("leaf revisions", sorted(leaves_a), sorted(leaves_b)))
    for rev in sorted(set(leaves_a) & set(leaves_b)):
        found += [(f"{rev} {key}", leaves_a[rev].get(key), leaves_b[rev].get(key))
                  for key in ("deleted", "revisions", "body", "error")
                  if leaves_a[rev].get(key) != leaves_b[rev].get(key)]
        atts_a, atts_b = leaves_a[rev].get("atts", {}), leaves_b[rev].get("atts", {})
        for name in sorted(set(atts_a) | set(atts_b)):
            att_a, att_b = atts_a.get(name) or {}, atts_b.get(name) or {}
            found += [(f"{rev} {name} {key}", att_a.get(key), att_b.get(key))
                      for key in sorted(set(att_a) | set(att_b)) if att_a.get(key) != att_b.get(key)]
    return "; ".join(f"{what}: {_short(left)} != {_short(right)}" for what, left, right in found)


def counts(prints):
    """What a fingerprint holds, so that two equal ones are known not to be equally empty."""
    docs = list(prints.values())
    leaves = [leaf for doc in docs for leaf in doc["leaves"].values()]
    return {
        "ids": len(docs),
        "conflicted": sum(1 for doc in docs if doc["conflicts"]),
        "deleted_winners": sum(doc["deleted"] for doc in docs),
        "deleted_leaves": sum(leaf.get("deleted", False) for leaf in leaves),
        "attachments": sum(len(leaf.get("atts", {})) for leaf in leaves),
        "attachment_bytes": sum(att.get("length") or 0
                                for leaf in leaves for att in leaf.get("atts", {}).values()),
    }


def report(found, shown=8, width=1500):
    """A readable failure message for ``differences``' answer: how many documents differ, and what
    differs in the first ``shown``."""
    lines = [f"{doc_id}: {what[:width]}" for doc_id, what, _, _ in found[:shown]]
    return "\n".join([f"{len(found)} documents differ" + (", among them:" if found[shown:] else ":"), *lines])
