"""Document shapes: validation of incoming JSON documents, attachments, and new revision ids.

Pure functions, no storage. The rules are CouchDB 3.x's (``couch_doc.erl``): which ``_`` members a
document may carry, what a document id may look like, how attachment stubs and inline data are written.
"""

import base64
import binascii
import hashlib
import json

from ..errors import BadRequest, DocValidation, IllegalDocId
from .revtree import parse_rev

__all__ = [
    "SPECIAL_MEMBERS",
    "validate_doc_id",
    "validate_attachment_name",
    "split_doc",
    "parse_rev_or_400",
    "new_rev_hash",
    "attachment_digest",
    "decode_attachment_data",
    "canonical_json",
    "compact_json",
]

# The only top-level members starting with "_" a document may have (couch_doc:transfer_fields/3).
SPECIAL_MEMBERS = frozenset({
    "_id", "_rev", "_attachments", "_deleted", "_revisions", "_revs_info", "_conflicts",
    "_deleted_conflicts", "_local_seq",
})
# Members the replication scheduler writes into _replicator documents; stored as ordinary fields
# (couch_doc:transfer_fields/3 lets these through too).
REPLICATION_MEMBERS = frozenset({
    "_replication_state", "_replication_state_time", "_replication_state_reason", "_replication_id",
    "_replication_stats",
})
RESERVED_ID_PREFIXES = ("_design/", "_local/")
# couch_doc:transfer_fields/3 matches these members by type; any other value is a bad special member.
_SPECIAL_TYPES = {
    "_attachments": lambda value: isinstance(value, dict),
    "_deleted": lambda value: isinstance(value, bool),
    "_revisions": lambda value: isinstance(value, dict),
}


def compact_json(value):
    """JSON as CouchDB writes it: no spaces, non-ASCII kept as is (encode as UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value):
    """Stable serialisation, for hashes: sorted keys, no spaces (JSON.stringify is not stable; this is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def validate_doc_id(doc_id, *, allow_local=True):
    """Raise ``illegal_docid`` (400) unless ``doc_id`` is a valid document id (couch_doc:validate_docid)."""
    if not isinstance(doc_id, str):
        raise IllegalDocId("Document id must be a string")
    if not doc_id:
        raise IllegalDocId("Document id must not be empty")
    if doc_id.startswith("_") and not doc_id.startswith(RESERVED_ID_PREFIXES):
        raise IllegalDocId("Only reserved document ids may start with underscore.")
    if doc_id in RESERVED_ID_PREFIXES or (not allow_local and doc_id.startswith("_local/")):
        raise IllegalDocId(f"Illegal document id `{doc_id}`")
    try:
        doc_id.encode("utf-8")
    except UnicodeEncodeError:
        raise IllegalDocId("Document id must be valid UTF-8") from None


def validate_attachment_name(name):
    """Raise 400 for a name CouchDB refuses on write (``chttpd_db:validate_attachment_name/1``)."""
    if name.startswith("_"):
        raise BadRequest(f"Attachment name '{name}' starts with prohibited character '_'")


def parse_rev_or_400(rev):
    try:
        return parse_rev(rev)
    except ValueError:
        raise BadRequest("Invalid rev format") from None


def split_doc(doc):
    """Split an incoming document into ``(meta, body)``: the special members, and the user's fields.

    Raises ``BadRequest`` for a non-object and ``doc_validation`` for an unknown ``_`` member.
    """
    if not isinstance(doc, dict):
        raise BadRequest("Document must be a JSON object")
    meta, body = {}, {}
    for key, value in doc.items():
        if key.startswith("_") and key not in REPLICATION_MEMBERS:
            well_typed = _SPECIAL_TYPES.get(key, lambda _: True)
            if key not in SPECIAL_MEMBERS or not well_typed(value):
                raise DocValidation(f"Bad special document member: {key}")
            meta[key] = value
        else:
            body[key] = value
    return meta, body


def new_rev_hash(deleted, parent, body, attachments):
    """The hash part of a new revision id: md5 of the canonical edit (as CouchDB's ``new_revid``).

    Deterministic, so a retried write produces the same revision and stays idempotent.
    """
    atts = sorted((name, att["digest"]) for name, att in attachments.items())
    edit = [bool(deleted), parent, body, atts]
    return hashlib.md5(canonical_json(edit).encode("utf-8")).hexdigest()


def attachment_digest(data):
    """CouchDB's attachment digest: ``md5-`` + base64 of the md5 of the bytes."""
    return md5_digest(hashlib.md5(data))


def md5_digest(md5):
    """The attachment digest of the bytes ``md5`` (a ``hashlib.md5`` object) has seen."""
    return "md5-" + base64.b64encode(md5.digest()).decode("ascii")


def decode_attachment_data(name, data):
    if not isinstance(data, str):
        raise BadRequest(f"Invalid attachment data for {name}")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"Invalid attachment data for {name}") from None
