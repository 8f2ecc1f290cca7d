"""Revision trees: plain functions on plain data, as PouchDB's ``pouchdb-merge`` and CouchDB's
``couch_key_tree.erl``.

Theory of operation
-------------------
A revision is a ``(pos, hash)`` tuple: ``pos`` is the generation (1 for a document's first revision) and
``hash`` an opaque string (32 hex digits when we make it). The string ``"N-hash"`` exists only at the
edges (``parse_rev`` / ``format_rev``).

A tree maps every known revision to a ``Node(parent, deleted)``. ``parent`` is the revision one
generation up, or ``None`` at a root: either the first revision ever, or the oldest one left after
stemming. A document normally has one root, but replication of stemmed paths can give it several, exactly
as CouchDB's key tree is a list of rooted trees::

    1-a ── 2-b ── 3-c          leaves: 3-c (live), 3-d (deleted), 2-e
       │      └── 3-d†         winner: 3-c; _conflicts [2-e]; _deleted_conflicts [3-d]
       └── 2-e

Keeping parent pointers instead of nested children makes merging a union of dicts: merging is
commutative, associative and idempotent for free, which is the property CouchDB's tests check.

Rules (CouchDB 3.x, identical in PouchDB):

1. The winner is the leaf that is not deleted, then has the higher ``pos``, then the higher ``hash``
   (plain string comparison, as CouchDB compares rev ids).
2. ``_conflicts`` are the other live leaves, ``_deleted_conflicts`` the other deleted leaves, both in
   winner order.
3. Stemming keeps, for every leaf, the leaf and its ``revs_limit - 1`` nearest ancestors; a kept node
   whose parent was dropped becomes a root. Leaves are never dropped.

No function here mutates its arguments; each returns a new tree.
"""

import re
from typing import NamedTuple

__all__ = [
    "Node",
    "parse_rev",
    "format_rev",
    "merge",
    "stem",
    "collect_leaves",
    "winning_rev",
    "collect_conflicts",
    "collect_deleted_conflicts",
    "rev_exists",
    "is_leaf",
    "latest",
    "path_to",
    "revs_diff",
    "tree_to_json",
    "tree_from_json",
]

# couch_doc:parse_rev/1: the generation as Erlang's list_to_integer/1 reads it, and a 32-character rev id
# as the 128-bit hex number couch_doc:parse_revid/1 makes of it.
POSITION = re.compile(r"\+?[0-9]+")
HEX_REVID = re.compile(r"[0-9a-fA-F]{32}")
# CouchDB's default ``revs_limit`` (couch_db.erl).
DEFAULT_REVS_LIMIT = 1000


class Node(NamedTuple):
    parent: tuple | None
    deleted: bool


def parse_rev(rev):
    """``"N-hash"`` -> ``(N, "hash")``; raises ``ValueError`` on anything else.

    As ``couch_doc:parse_rev/1``: ``N`` is a decimal number (a ``+`` sign allowed), the hash anything
    after the first ``-``, even nothing, but 32 characters must be hex digits, which CouchDB keeps as a
    128-bit number (so they read back in lower case).
    """
    if not isinstance(rev, str):
        raise ValueError("rev must be a string")
    pos, sep, digest = rev.partition("-")
    if not sep or not POSITION.fullmatch(pos):
        raise ValueError(f"invalid rev {rev!r}")
    if len(digest) == 32:
        if not HEX_REVID.fullmatch(digest):
            raise ValueError(f"invalid rev {rev!r}")
        digest = digest.lower()
    return int(pos), digest


def format_rev(rev):
    return f"{rev[0]}-{rev[1]}"


def _winner_key(tree, rev):
    return (not tree[rev].deleted, rev[0], rev[1])


def merge(tree, path, deleted=False):
    """Merge a revision path into ``tree``.

    ``path`` lists revisions newest first, each the parent of the one before (as ``_revisions`` gives
    them); its first entry is the new leaf and ``deleted`` its deleted flag. Revisions already in the tree
    keep their flags; a known parent fills in a root that stemming had cut loose. Returns the new tree.
    """
    merged = dict(tree)
    for i, rev in enumerate(path):
        parent = path[i + 1] if i + 1 < len(path) else None
        known = merged.get(rev)
        if known is None:
            merged[rev] = Node(parent, deleted if i == 0 else False)
        elif known.parent is None and parent is not None:
            merged[rev] = Node(parent, known.deleted)
    return merged


def _children_count(tree):
    counts = dict.fromkeys(tree, 0)
    for node in tree.values():
        if node.parent in counts:
            counts[node.parent] += 1
    return counts


def collect_leaves(tree):
    """All leaves, winner first (rule 1 order)."""
    counts = _children_count(tree)
    leaves = [rev for rev, n in counts.items() if n == 0]
    leaves.sort(key=lambda rev: _winner_key(tree, rev), reverse=True)
    return leaves


def winning_rev(tree):
    """The winning leaf (rule 1)."""
    return collect_leaves(tree)[0]


def collect_conflicts(tree):
    """Live leaves other than the winner, in winner order (rule 2)."""
    return [rev for rev in collect_leaves(tree)[1:] if not tree[rev].deleted]


def collect_deleted_conflicts(tree):
    """Deleted leaves other than the winner, in winner order (rule 2)."""
    return [rev for rev in collect_leaves(tree)[1:] if tree[rev].deleted]


def stem(tree, revs_limit=DEFAULT_REVS_LIMIT):
    """Keep each leaf and its ``revs_limit - 1`` nearest ancestors (rule 3)."""
    keep = set()
    for leaf in collect_leaves(tree):
        rev, depth = leaf, 0
        while rev is not None and rev in tree and depth < revs_limit:
            keep.add(rev)
            rev, depth = tree[rev].parent, depth + 1
    if len(keep) == len(tree):
        return tree
    return {
        rev: node if node.parent in keep else Node(None, node.deleted)
        for rev, node in tree.items()
        if rev in keep
    }


def rev_exists(tree, rev):
    return rev in tree


def is_leaf(tree, rev):
    return rev in tree and all(node.parent != rev for node in tree.values())


def latest(tree, rev):
    """The leaves that descend from ``rev`` (itself if it is a leaf), winner first; ``[]`` if unknown.

    As CouchDB's ``couch_key_tree:get_key_leafs``, used by ``open_revs`` with ``latest=true``.
    """
    if rev not in tree:
        return []
    return [leaf for leaf in collect_leaves(tree) if rev in path_to(tree, leaf)]


def path_to(tree, rev):
    """``rev`` and its known ancestors, newest first (the ``_revisions`` path)."""
    path = []
    while rev is not None and rev in tree:
        path.append(rev)
        rev = tree[rev].parent
    return path


def revs_diff(tree, revs):
    """``(missing, possible_ancestors)`` for the revisions ``revs`` of one document.

    ``missing`` keeps the order of ``revs``; ``possible_ancestors`` are the leaves older than the newest
    missing revision, as CouchDB's ``_revs_diff`` reports them.
    """
    missing = [rev for rev in dict.fromkeys(revs) if rev not in tree]
    if not missing:
        return [], []
    newest = max(pos for pos, _ in missing)
    ancestors = [leaf for leaf in collect_leaves(tree) if leaf[0] < newest]
    return missing, ancestors


def tree_to_json(tree):
    """A compact JSON-able form: ``[[pos, hash, parent_hash_or_null, deleted], ...]``."""
    return [
        [pos, digest, node.parent[1] if node.parent else None, 1 if node.deleted else 0]
        for (pos, digest), node in tree.items()
    ]


def tree_from_json(data):
    """The inverse of ``tree_to_json``."""
    return {
        (pos, digest): Node((pos - 1, parent) if parent is not None else None, bool(deleted))
        for pos, digest, parent, deleted in data
    }
