"""The replication id: which checkpoint documents (``_local/<id>``) a replication reads and writes.

Two runs get the same id exactly when they replicate the same thing: the same source and target database
(by identity, not by the URL spelling or credentials used to reach them) with the same selection of
documents. The id is the MD5 hex digest of a canonical JSON object (sorted keys, compact separators,
UTF-8), so it does not depend on dict order or on the order ``doc_ids`` were given in.

Ported in spirit from PouchDB's ``pouchdb-generate-replication-id`` (md5 of source id, target id, filter,
``query_params`` with sorted keys, sorted ``doc_ids`` and ``selector``; its comment warns that
``JSON.stringify`` is not a stable serialisation, which canonical JSON fixes) and CouchDB's
``couch_replicator_ids:replication_id/2`` version 4 (server uuid, source, target, then the filter:
``doc_ids``, the Mango selector, or the filter with its ``query_params``, and ``since_seq`` when given).
Like both, ``continuous`` and ``create_target`` are not part of the id: a one-shot run and a continuous
run of the same replication share their checkpoints. Unlike CouchDB, which hashes a JavaScript filter's
source code, a named filter counts by its name only (browsercouch runs no JavaScript).
Pure: no I/O.
"""

import hashlib

from ..store import canonical_json

__all__ = ["REPLICATION_ID_VERSION", "replication_id"]

# Bump when the inputs or their encoding change: a new version orphans old checkpoints (a full re-scan,
# never wrong data). Written into checkpoint documents as ``replication_id_version``.
REPLICATION_ID_VERSION = 1


def replication_id(source_id, target_id, *, doc_ids=None, selector=None, filter=None, query_params=None,
                   since=None):
    """The 32-hex-digit id of replicating ``source_id`` to ``target_id`` with the given selection.

    Args:
        source_id, target_id: the endpoints' stable identities (``Endpoint.id()``).
        doc_ids: a list of document ids, or ``None``; order and duplicates do not matter.
        selector: a Mango selector (a dict), or ``None``.
        filter: a ``"ddoc/name"`` filter, or ``None``; ``query_params`` (a dict) count only with it.
        since: an explicit start sequence, or ``None`` (a run told where to start is its own replication).
    """
    parts = {"version": REPLICATION_ID_VERSION, "source": source_id, "target": target_id}
    if doc_ids is not None:
        parts["doc_ids"] = sorted(set(doc_ids))
    if selector is not None:
        parts["selector"] = selector
    if filter is not None:
        parts["filter"] = filter
        parts["query_params"] = query_params or {}
    if since is not None:
        parts["since"] = since
    return hashlib.md5(canonical_json(parts).encode()).hexdigest()
