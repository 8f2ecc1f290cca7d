"""The changes feed of one database: which rows a ``_changes`` pass sends, where it ends, what is pending.

One pass, as CouchDB's ``fabric_rpc:changes/4`` makes it, serves the API's four feeds and the local
replication endpoint alike. ``feed()`` walks ``Database.change_rows`` (seq order, or newest first when
``descending``), keeps the rows the selection admits (``doc_ids``, a Mango ``selector``, or design documents
only), and yields them as ``_changes`` rows; its last item is a ``FeedEnd``:

- a descending pass starts from the newest change, and a ``limit`` of 0 reads nothing, so then
  ``last_seq`` is where the pass starts, selected or not;
- ``pending`` is the changes from the start onwards (all of them when descending) less those the pass
  walked: every change it read, or only the ones it sent where CouchDB visits the matching documents
  alone (``couch_changes:send_changes_doc_ids/6`` for up to ``DOC_IDS_FAST_PATH`` ids, and
  ``send_changes_design_docs/6``); walking those newest first, ``last_seq`` moves with the rows sent only.

The rows are read a page at a time and the pass yields to the event loop between pages, so a feed of a
million changes neither builds a list nor holds the loop.
"""

import asyncio
from typing import NamedTuple

from . import revtree
from .mango import compile_selector

__all__ = ["FeedEnd", "feed", "DOC_IDS_FAST_PATH"]

# couch_changes:doc_ids_limit/0 ([couchdb] changes_doc_ids_optimization_threshold): up to this many doc
# ids, CouchDB looks the documents up instead of reading every change, which shows in `pending`.
DOC_IDS_FAST_PATH = 100
# Rows sent between two yields to the event loop.
ROWS_PER_TURN = 500


class FeedEnd(NamedTuple):
    """The last item of a pass: the sequence it got to and the changes still ahead of it."""

    last_seq: int
    pending: int


async def feed(db, since=0, *, limit=None, descending=False, doc_ids=None, selector=None, design_only=False,
               doc_filter=None, all_leaves=False, include_docs=False, doc_options=None):
    """Yield the ``_changes`` rows of one pass over ``db`` after ``since``, then a ``FeedEnd``.
    ``doc_filter`` is a predicate on the winning revision (a design filter function: ``Database.filter``)."""
    accept, matches_only = _selection(db, doc_ids, selector, design_only, doc_filter)
    last_seq, walked, sent = db.update_seq if descending else since, 0, 0
    if db.closed:  # deleted while a feed waited: nothing more to read, nothing pending
        yield FeedEnd(last_seq, 0)
        return
    ahead = db.count_changes_after(0 if descending else since)
    if limit != 0:
        for change in db.change_rows(since, descending=descending, limit=None if accept else limit):
            accepted = accept is None or accept(change)
            if accepted or not matches_only:
                walked += 1
            if accepted or not (matches_only and descending):
                last_seq = change.seq
            if not accepted:
                continue
            yield _row(db, change, all_leaves, include_docs, doc_options or {})
            sent += 1
            if limit is not None and sent >= limit:
                break
            if sent % ROWS_PER_TURN == 0:
                await asyncio.sleep(0)
    yield FeedEnd(last_seq, ahead - walked)


def _selection(db, doc_ids, selector, design_only, doc_filter):
    """``(accept, matches_only)``: a predicate on ``ChangeRow``s (``None`` for all), and whether CouchDB
    would visit the matching documents only."""
    if doc_filter is not None:
        def accept_doc(change):
            doc = db.doc_at(change.doc_id, change.tree)
            return doc is not None and doc_filter(doc)

        return accept_doc, False
    if doc_ids is not None:
        wanted = set(doc_ids)
        return (lambda change: change.doc_id in wanted), len(doc_ids) <= DOC_IDS_FAST_PATH
    if selector is not None:
        matches = compile_selector(selector)

        def accept(change):
            doc = db.doc_at(change.doc_id, change.tree)
            return doc is not None and matches(doc)

        return accept, False
    if design_only:
        return (lambda change: change.doc_id.startswith("_design/")), True
    return None, False


def _row(db, change, all_leaves, include_docs, doc_options):
    revs = revtree.collect_leaves(change.tree) if all_leaves else None
    row = {
        "seq": change.seq,
        "id": change.doc_id,
        "changes": [{"rev": revtree.format_rev(r)} for r in revs] if revs else [{"rev": change.winner}],
    }
    if change.deleted:
        row["deleted"] = True
    if include_docs:
        row["doc"] = db.doc_at(change.doc_id, change.tree, **doc_options)
    return row
