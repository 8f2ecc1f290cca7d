"""Tests for ``browsercouch.store.revtree``: tables ported from PouchDB and CouchDB, invariants, properties.

The merge table is PouchDB's ``tests/unit/test.merge.js``, itself a port of CouchDB's key-tree tests
(``src/couch/test/eunit/couch_key_tree_tests.erl``, whose remaining cases follow it: stemming, leaf gathering,
``find_missing``). PouchDB's nested ``{pos, ids: [id, opts, [children]]}`` trees become our flat
``{(pos, hash): Node(parent, deleted)}`` through ``tree()``, which takes root-to-leaf branches written as
strings: ``tree("1-1 2-2_0 3-3", "1-1 2-2_1")``. A trailing ``†`` marks a deleted revision; a branch that
starts past generation 1 is a stemmed root. CouchDB's tests count generations from 0 and ours from 1, so
their ``{0, "1"}`` is our ``1-1``.

Every step goes through ``merged()`` / ``stemmed()``, which check the invariants (``check_tree``,
``check_merge``, ``check_stem``), so a table case tests its expected tree and the rules at once.

Where CouchDB 3.x and PouchDB disagree, we follow CouchDB and say so at the case: stemming keeps every
revision within ``revs_limit - 1`` generations of *some* leaf, and keeps it linked to its parent when that
parent is kept too (``couch_key_tree:stem/2`` since 2.x); PouchDB stems each root-to-leaf path on its own and
may cut a branch point loose. Leaves, and so winners and conflicts, are the same either way.
"""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from browsercouch.store import revtree
from browsercouch.store.revtree import Node, collect_leaves, parse_rev, path_to

DELETED = "†"


# ---------------------------------------------------------------------------------------------------------
# Building trees, and the invariants every step must keep


def rev(token):
    """``"2-b"`` or ``"2-b†"`` -> ``(2, "b")``."""
    return parse_rev(token.rstrip(DELETED))


def revs(text):
    return [rev(token) for token in text.split()]


def tree(*branches):
    """A tree from root-to-leaf branches (see the module docstring); shared revisions must agree."""
    result = {}
    for branch in branches:
        parent = None
        for token in branch.split():
            node = Node(parent, token.endswith(DELETED))
            assert result.setdefault(rev(token), node) == node, f"{token} differs between branches"
            parent = rev(token)
    check_tree(result)
    return result


def path(branch):
    """A root-to-leaf branch as ``merge`` takes it: ``(revisions newest first, deleted flag of the leaf)``."""
    tokens = branch.split()
    return [rev(token) for token in reversed(tokens)], tokens[-1].endswith(DELETED)


def winner_key(t, r):
    return (not t[r].deleted, r[0], r[1])


def check_tree(t):
    """Shape: keys are ``(pos >= 1, non-empty hash)``; a parent is in the tree (or ``None``) and one
    generation up; ``collect_leaves`` finds exactly the childless revisions, sorted winner first."""
    for (pos, digest), node in t.items():
        assert isinstance(pos, int) and pos >= 1 and isinstance(digest, str) and digest
        assert isinstance(node, Node) and isinstance(node.deleted, bool)
        if node.parent is not None:
            assert node.parent in t, f"{pos}-{digest}: parent {node.parent} is not in the tree"
            assert node.parent[0] == pos - 1, f"{pos}-{digest}: parent {node.parent} is not one generation up"
    leaves = collect_leaves(t)
    assert set(leaves) == set(t) - {node.parent for node in t.values()}
    assert leaves == sorted(leaves, key=lambda r: winner_key(t, r), reverse=True)


def check_merge(before, new_path, deleted, after):
    """A merge loses nothing: every revision and flag of the tree stays, the path is added as a chain, and a
    leaf stops being one only because the path gave it a child."""
    check_tree(after)
    assert set(after) == set(before) | set(new_path)
    for r, node in before.items():
        assert after[r].deleted == node.deleted, f"{r}: a known revision keeps its flag"
        assert node.parent is None or after[r].parent == node.parent, f"{r}: a known parent is kept"
    for child, parent in zip(new_path, new_path[1:], strict=False):
        if child not in before or before[child].parent is None:
            assert after[child].parent == parent
    if new_path[0] not in before:
        assert after[new_path[0]].deleted == deleted
    lost = set(collect_leaves(before)) - set(collect_leaves(after))
    assert lost <= set(new_path[1:]), f"leaves lost by merge: {lost}"


def check_stem(before, after, limit):
    """CouchDB 3.x stemming: the leaves stay (in the same winner order), every leaf keeps its ``limit``
    nearest revisions, nothing farther than ``limit - 1`` generations from every leaf stays, a kept revision
    keeps its parent exactly when the parent is kept, and no leaf's path grows.

    So the depth from a leaf is at most ``limit`` unless an ancestor is kept for another, shorter branch
    (see "a branch point another leaf needs stays linked" in STEM_CASES); for a linear history it always is.
    """
    check_tree(after)
    leaves = collect_leaves(before)
    assert collect_leaves(after) == leaves, "stemming never drops a leaf"
    near = {r for leaf in leaves for r in path_to(before, leaf)[:limit]}
    assert set(after) == near
    for r, node in after.items():
        assert node.deleted == before[r].deleted
        assert node.parent == (before[r].parent if before[r].parent in after else None)
    for leaf in leaves:
        old, new = path_to(before, leaf), path_to(after, leaf)
        assert new[:limit] == old[:limit] and len(new) <= len(old)
    if len(leaves) == 1:
        assert len(path_to(after, leaves[0])) <= limit


def merged(t, branch_or_path, deleted=None):
    """``revtree.merge`` with every merge invariant checked, and a check that the inputs are untouched.

    Takes a branch string, or a ``(path, deleted)`` pair as ``path()`` returns it.
    """
    new_path, leaf_deleted = path(branch_or_path) if isinstance(branch_or_path, str) else branch_or_path
    before, path_before = copy.deepcopy(t), list(new_path)
    after = revtree.merge(t, new_path, leaf_deleted if deleted is None else deleted)
    assert t == before and new_path == path_before, "merge must not mutate its arguments"
    check_merge(before, new_path, leaf_deleted, after)
    return after


def stemmed(t, limit):
    """``revtree.stem`` with the stemming invariants checked, and a check that the input is untouched."""
    before = copy.deepcopy(t)
    after = revtree.stem(t, limit)
    assert t == before, "stem must not mutate its argument"
    check_stem(before, after, limit)
    return after


# ---------------------------------------------------------------------------------------------------------
# The fixtures of test.merge.js, drawn

SIMPLE = ("1-1",)                                  # 1-1
TWO0 = ("1-1 2-2_0",)                              # 1-1 ── 2-2_0
TWO1 = ("1-1 2-2_1",)                              # 1-1 ── 2-2_1
NEWLEAF = ("2-2_0 3-3",)                           # (stemmed) 2-2_0 ── 3-3
WITHNEWLEAF = ("1-1 2-2_0 3-3",)                   # 1-1 ── 2-2_0 ── 3-3
NEWBRANCH = ("1-1 2-2_0", "1-1 2-2_1")             # 1-1 ┬─ 2-2_0
#                                                        └─ 2-2_1
NEWDEEPBRANCH = ("2-2_0 3-3_1",)                   # (stemmed) 2-2_0 ── 3-3_1
STEMMEDCONFLICTS = ("1-1", "3-3")                  # 1-1      (stemmed) 3-3
NEWBRANCHLEAF = ("1-1 2-2_0 3-3", "1-1 2-2_1")     # 1-1 ┬─ 2-2_0 ── 3-3
#                                                        └─ 2-2_1
NEWBRANCHLEAFBRANCH = ("1-1 2-2_0 3-3", "1-1 2-2_0 3-3_1", "1-1 2-2_1")
# 1-1 ┬─ 2-2_0 ┬─ 3-3
#     │        └─ 3-3_1
#     └─ 2-2_1
STEMMED3 = ("2-2_1", "3-3", "3-3_1")               # three stemmed roots, each a leaf
PARTIALRECOVER = ("1-1 2-2_0 3-3", "2-2_1", "3-3_1")
# 1-1 ── 2-2_0 ── 3-3      (stemmed) 2-2_1      (stemmed) 3-3_1

# ...and those of the CouchDB part ("These are tests from CouchDB's kt-merging.erl test suite")
ONE = ("1-1",)
TWO_SIBS = ("1-1", "1-2")                          # two roots: 1-1   1-2
THREE_SIBS = ("1-1", "1-2", "1-3")
TWO_CHILD = ("1-1 2-1a 3-1aa",)                    # 1-1 ── 2-1a ── 3-1aa
TWO_CHILD_SIBS = ("1-1 2-1a", "1-1 2-1b")          # 1-1 ┬─ 2-1a
#                                                        └─ 2-1b
TWO_CHILD_PLUS_SIBS = ("1-1 2-1a 3-1aa", "1-1 2-1b")   # 1-1 ┬─ 2-1a ── 3-1aa
#                                                            └─ 2-1b
TWO_CHILD_PLUS_SIBS2 = ("1-1 2-1a", "1-1 2-1b 3-1bb")  # 1-1 ┬─ 2-1a
#                                                            └─ 2-1b ── 3-1bb
STEMMED_TWO_CHILD_SIBS2 = ("2-1a", "2-1b 3-1bb")   # (stemmed) 2-1a   (stemmed) 2-1b ── 3-1bb
STEMMED_1A = ("2-1a 3-1aa",)                       # (stemmed) 2-1a ── 3-1aa
ONE_CHILD = ("1-1 2-1a",)                          # 1-1 ── 2-1a
FOO = ("1-foo 2-foo2", "1-foo 2-foo3")             # 1-foo ┬─ 2-foo2
#                                                          └─ 2-foo3
FOO_BAR = ("1-foo 2-foo2", "1-foo 2-foo3 3-foo4")  # 1-foo ┬─ 2-foo2
#                                                          └─ 2-foo3 ── 3-foo4

# (id, start tree, branches merged in order, revs_limit, expected tree). PouchDB's merge(tree, path, depth)
# merges and then stems; CouchDB's tests use merge_and_stem with depth 10.
MERGE_CASES = [
    ("merging a path into an empty tree is the path", (), ["1-1"], 10, SIMPLE),
    ("remerging a path into the path is reflexive", SIMPLE, ["1-1"], 10, SIMPLE),
    ("merging a path with multiple entries is the path", (), ["1-1 2-2_0"], 10, TWO0),
    ("merging a path with multiple entries is reflexive", TWO0, ["1-1 2-2_0"], 10, TWO0),
    ("merging a subpath into a path results in the path", TWO0, ["1-1"], 10, TWO0),
    ("merging a new leaf gives us a new leaf", TWO0, ["2-2_0 3-3"], 10, WITHNEWLEAF),
    ("merging a new branch returns a proper tree", TWO0, ["1-1 2-2_1"], 10, NEWBRANCH),
    ("order of merging does not affect the resulting tree", TWO1, ["1-1 2-2_0"], 10, NEWBRANCH),
    ("merging a new leaf when branches exist extends the branch", NEWBRANCH, ["2-2_0 3-3"], 10,
     NEWBRANCHLEAF),
    ("merging a deep branch with branches works", NEWBRANCHLEAF, ["2-2_0 3-3_1"], 10, NEWBRANCHLEAFBRANCH),
    ("new information reconnects stemming-induced conflicts", STEMMEDCONFLICTS, ["1-1 2-2_0 3-3"], 10,
     WITHNEWLEAF),
    ("simple stemming works", TWO0, ["2-2_0 3-3"], 2, NEWLEAF),
    # PouchDB expects [1-1 ── 2-2_1] and [2-2_0 ┬ 3-3, 3-3_1]: it stems each path alone and cuts 2-2_0 off.
    # CouchDB 3.x keeps 1-1 (one generation from leaf 2-2_1) and its link to 2-2_0: nothing is dropped.
    ("merging with stemming keeps a branch point another leaf needs (CouchDB 3.x)", NEWBRANCHLEAFBRANCH,
     ["1-1"], 2, NEWBRANCHLEAFBRANCH),
    ("merging with stemming to leaves leaves only leaves", NEWBRANCHLEAFBRANCH, ["1-1"], 1, STEMMED3),
    ("merging unstemmed recovers as much as possible without losing info", STEMMED3, ["1-1 2-2_0 3-3"], 10,
     PARTIALRECOVER),
    # CouchDB's key-tree cases
    ("the empty tree is the identity for merge", (), ["1-1"], 10, ONE),
    ("merging is reflexive", ONE, ["1-1"], 10, ONE),
    ("merging a prefix of a tree with the tree yields the tree", TWO_SIBS, ["1-1"], 10, TWO_SIBS),
    ("merging a third unrelated branch leads to a conflict", TWO_SIBS, ["1-3"], 10, THREE_SIBS),
    ("merging two children is still reflexive", TWO_CHILD, ["1-1 2-1a 3-1aa"], 10, TWO_CHILD),
    ("merging a tree to itself is itself", TWO_CHILD_SIBS, list(TWO_CHILD_SIBS), 10, TWO_CHILD_SIBS),
    ("merging a tree of uneven length at node 2", TWO_CHILD_SIBS, ["1-1 2-1a 3-1aa"], 10,
     TWO_CHILD_PLUS_SIBS),
    ("merging a tree with a stem", TWO_CHILD_SIBS, ["2-1a"], 10, TWO_CHILD_SIBS),
    ("merging a stem at a deeper level", TWO_CHILD_PLUS_SIBS2, ["3-1bb"], 10, TWO_CHILD_PLUS_SIBS2),
    ("merging a stem at a deeper level against paths at deeper levels", STEMMED_TWO_CHILD_SIBS2, ["3-1bb"],
     10, STEMMED_TWO_CHILD_SIBS2),
    ("merging a single tree with a deeper stem", TWO_CHILD, ["3-1aa"], 10, TWO_CHILD),
    ("merging a larger stem", TWO_CHILD, ["2-1a 3-1aa"], 10, TWO_CHILD),
    ("merging stems", STEMMED_1A, ["3-1aa"], 10, STEMMED_1A),
    ("merging an unconnected stem creates a conflict", ONE_CHILD, ["3-1aa"], 10, ONE_CHILD + ("3-1aa",)),
    ("merging the missing link removes the conflict", ONE_CHILD + ("3-1aa",), ["1-1 2-1a 3-1aa"], 10,
     TWO_CHILD),
    ("merging trees with conflicts ought to behave (COUCHDB-902)", FOO, ["1-foo 2-foo3 3-foo4"], 10, FOO_BAR),
    # Flags: a known revision keeps its deleted flag (CouchDB's value_pref keeps the stored value); a new
    # leaf takes the path's flag, and the revisions before it are plain ancestors.
    ("a merged path names its new leaf deleted", ONE_CHILD, ["1-1 2-1a 3-x†"], 10, ("1-1 2-1a 3-x†",)),
    ("a known deleted leaf stays deleted when merged again", ("1-1 2-1a†",), ["1-1 2-1a"], 10,
     ("1-1 2-1a†",)),
    ("a deleted leaf can be extended (a resurrection)", ("1-1 2-1a†",), ["1-1 2-1a 3-1b"], 10,
     ("1-1 2-1a† 3-1b",)),
]


@pytest.mark.parametrize("start, branches, limit, expected",
                         [case[1:] for case in MERGE_CASES], ids=[case[0] for case in MERGE_CASES])
def test_merge(start, branches, limit, expected):
    t = tree(*start)
    for branch in branches:
        t = stemmed(merged(t, branch), limit)
    assert t == tree(*expected)


def test_merge_does_not_mutate_and_returns_a_new_tree():
    t = tree(*TWO0)
    frozen = copy.deepcopy(t)
    out = revtree.merge(t, [rev("3-3"), rev("2-2_0")])
    assert t == frozen and out is not t and rev("3-3") in out


# ---------------------------------------------------------------------------------------------------------
# Stemming (couch_key_tree_tests "Stemming", and the CouchDB 3.x rule for branches)

STEM_CASES = [
    ("stemming more levels than exist changes nothing", TWO_CHILD, 3, TWO_CHILD),
    ("stemming to 1 keeps the deepest node", TWO_CHILD, 1, ("3-1aa",)),
    ("stemming to 2 keeps the two deepest nodes", TWO_CHILD, 2, ("2-1a 3-1aa",)),
    # 1-a ┬─ 2-b ── 3-c ── 4-d      limit 2:   (stemmed) 3-c ── 4-d
    #     └─ 2-e                               1-a ── 2-e
    ("stemming never drops a leaf, and a short branch keeps its root", ("1-a 2-b 3-c 4-d", "1-a 2-e"), 2,
     ("3-c 4-d", "1-a 2-e")),
    # 1-a ── 2-b ┬─ 3-c ── 4-d      limit 2:   (stemmed) 2-b ┬─ 3-c ── 4-d
    #            └─ 3-e                                      └─ 3-e
    # 2-b is one generation from leaf 3-e, so it stays, linked to 3-c: 4-d's path has 3 revisions. PouchDB
    # would split it into [3-c ── 4-d] and [2-b ── 3-e]; couch_key_tree:stem/2 keeps it whole.
    ("a branch point another leaf needs stays linked (CouchDB 3.x)", ("1-a 2-b 3-c 4-d", "1-a 2-b 3-e"), 2,
     ("2-b 3-c 4-d", "2-b 3-e")),
    ("stemming keeps deleted flags", ("1-a 2-b 3-c†", "1-a 2-b 3-d"), 1, ("3-c†", "3-d")),
    ("stemming several roots", ("1-a 2-b 3-c", "5-x 6-y 7-z"), 2, ("2-b 3-c", "6-y 7-z")),
]


@pytest.mark.parametrize("start, limit, expected",
                         [case[1:] for case in STEM_CASES], ids=[case[0] for case in STEM_CASES])
def test_stem(start, limit, expected):
    assert stemmed(tree(*start), limit) == tree(*expected)


def test_stemming_is_incremental_as_in_couchdb():
    """Stemming happens on every write, so the same revisions can end up linked differently than if the
    whole history were stemmed once. CouchDB does the same (couch_db_updater stems on each update)."""
    # history: 1-a ┬─ 2-b ── 3-c   written as 1-a, 2-b, 3-c (stem 2), then the branch 2-d (stem 2)
    #              └─ 2-d
    step = stemmed(merged(tree(), "1-a 2-b 3-c"), 2)
    assert step == tree("2-b 3-c")
    step = stemmed(merged(step, "1-a 2-d"), 2)
    assert step == tree("2-b 3-c", "1-a 2-d")
    once = stemmed(tree("1-a 2-b 3-c", "1-a 2-d"), 2)
    assert once == tree("1-a 2-b 3-c", "1-a 2-d")
    assert collect_leaves(step) == collect_leaves(once)


# ---------------------------------------------------------------------------------------------------------
# Winner, conflicts, deleted conflicts (CouchDB: couch_doc:to_doc_info_path sorts leaves by
# {not Deleted, Rev} descending; the first is the winner, the others are conflicts or deleted conflicts)

WINNER_CASES = [
    # (id, tree, winner, _conflicts, _deleted_conflicts)
    ("a single revision wins alone", ("1-a",), "1-a", [], []),
    # 1-a ┬─ 2-b ── 3-c†
    #     └─ 2-d
    ("non-deleted beats deleted, even a longer deleted branch", ("1-a 2-b 3-c†", "1-a 2-d"), "2-d", [],
     ["3-c"]),
    ("a higher pos wins between live leaves", ("1-a 2-b 3-c", "1-a 2-z"), "3-c", ["2-z"], []),
    ("a higher hash wins at the same pos", ("1-a 2-b", "1-a 2-c"), "2-c", ["2-b"], []),
    ("hashes compare as strings, so 9 beats 10", ("1-a 2-10", "1-a 2-9"), "2-9", ["2-10"], []),
    ("pos compares as a number, so 10 beats 9", ("9-z", "10-a"), "10-a", ["9-z"], []),
    ("a live leaf beats a deleted one with a higher hash", ("1-a 2-b", "1-a 2-c†"), "2-b", [], ["2-c"]),
    ("with every leaf deleted, pos then hash pick the deleted winner",
     ("1-a 2-b†", "1-a 2-c†", "1-a 2-d 3-e†"), "3-e", [], ["2-c", "2-b"]),
    # 1-a ┬─ 2-b            winner 3-d; _conflicts [2-h, 2-b]; _deleted_conflicts [3-f, 2-g]
    #     ├─ 2-c ── 3-d
    #     ├─ 2-e ── 3-f†
    #     ├─ 2-g†
    #     └─ 2-h
    ("conflicts and deleted conflicts are the other leaves in winner order",
     ("1-a 2-b", "1-a 2-c 3-d", "1-a 2-e 3-f†", "1-a 2-g†", "1-a 2-h"), "3-d", ["2-h", "2-b"],
     ["3-f", "2-g"]),
    ("a stemmed root without children is a leaf", ("1-a 2-b", "3-c"), "3-c", ["2-b"], []),
    ("a deleted revision inside the tree is not a leaf", ("1-a 2-b† 3-c",), "3-c", [], []),
    # PouchDB's "winningRev returns the longest leaf": 1-bfe7 ┬─ 2-44d7
    #                                                           └─ 2-56e6 ── 3-93c3
    ("winningRev returns the longest leaf (PouchDB)",
     ("1-bfe70372c90ded1087239e5191984f76 2-44d71a718b90e4696c06a90e08912c8f",
      "1-bfe70372c90ded1087239e5191984f76 2-56e657612d55ab1a402dcb281c874f2a "
      "3-93c3db16462f656f7172ccabd3cf6cd6"),
     "3-93c3db16462f656f7172ccabd3cf6cd6", ["2-44d71a718b90e4696c06a90e08912c8f"], []),
    # PouchDB issue #293: two roots at pos 1  1-203d ── 2-bf5e ── 3-28cd
    #                                         1-c6d5 ┬─ 2-1b8d
    #                                                └─ 2-59ed ── 3-64a9
    ("winningRev returns the longest leaf again (PouchDB #293)",
     ("1-203db1a1810a838895d561f67b224b5d 2-bf5e08a4f9fa6d33a53f4a00ae3ea399 "
      "3-28cd77a3ca30f79e1cfffcd6a41ca308",
      "1-c6d5cce35bcfbef90b20f140d723cbdb 2-1b8dfbb1267e213328920bae43f2f597",
      "1-c6d5cce35bcfbef90b20f140d723cbdb 2-59ed830b84b276ab776c3c51aaf93a16 "
      "3-64a9842c6aea50bf24660378e496e853"),
     "3-64a9842c6aea50bf24660378e496e853",
     ["3-28cd77a3ca30f79e1cfffcd6a41ca308", "2-1b8dfbb1267e213328920bae43f2f597"], []),
]


@pytest.mark.parametrize("branches, winner, conflicts, deleted_conflicts",
                         [case[1:] for case in WINNER_CASES], ids=[case[0] for case in WINNER_CASES])
def test_winner_and_conflicts(branches, winner, conflicts, deleted_conflicts):
    t = tree(*branches)
    frozen = copy.deepcopy(t)
    assert revtree.winning_rev(t) == rev(winner)
    assert revtree.collect_conflicts(t) == revs(" ".join(conflicts))
    assert revtree.collect_deleted_conflicts(t) == revs(" ".join(deleted_conflicts))
    assert collect_leaves(t) == [rev(winner)] + sorted(
        revs(" ".join(conflicts + deleted_conflicts)), key=lambda r: winner_key(t, r), reverse=True)
    assert t == frozen


# ---------------------------------------------------------------------------------------------------------
# Leaves and paths (couch_key_tree_tests "Leaves retrieving", "Leaf counting")

LATEST_CASES = [
    # (id, tree, revision asked for, leaves descending from it)   get_key_leafs
    ("latest of an unknown revision is nothing", TWO_CHILD_SIBS, "1-x", []),
    ("latest of a leaf is the leaf", TWO_CHILD_SIBS, "2-1a", ["2-1a"]),
    ("latest of an inner revision gathers every leaf under it, winner first", TWO_CHILD_SIBS, "1-1",
     ["2-1b", "2-1a"]),
    ("latest of a revision with one child is that branch's leaf", ONE_CHILD, "1-1", ["2-1a"]),
    ("latest below a stemmed root", STEMMED_1A, "2-1a", ["3-1aa"]),
    ("latest puts a live leaf before a longer deleted one", ("1-a 2-b 3-c†", "1-a 2-d"), "1-a",
     ["2-d", "3-c"]),
    ("latest ignores leaves on other branches", NEWBRANCHLEAFBRANCH, "2-2_0", ["3-3_1", "3-3"]),
]


@pytest.mark.parametrize("branches, asked, expected",
                         [case[1:] for case in LATEST_CASES], ids=[case[0] for case in LATEST_CASES])
def test_latest(branches, asked, expected):
    assert revtree.latest(tree(*branches), rev(asked)) == revs(" ".join(expected))


PATH_CASES = [
    # (id, tree, revision, its path newest first)   get_full_key_paths / get_all_leafs_full
    ("the path of a root is the root", TWO_CHILD_SIBS, "1-1", "1-1"),
    ("the path of a leaf runs to its root", TWO_CHILD_SIBS, "2-1a", "2-1a 1-1"),
    ("the path of a leaf under a stemmed root stops at that root", STEMMED_1A, "3-1aa", "3-1aa 2-1a"),
    ("an unknown revision has no path", TWO_CHILD_SIBS, "3-x", ""),
]


@pytest.mark.parametrize("branches, asked, expected",
                         [case[1:] for case in PATH_CASES], ids=[case[0] for case in PATH_CASES])
def test_path_to(branches, asked, expected):
    assert path_to(tree(*branches), rev(asked)) == revs(expected)


@pytest.mark.parametrize("branches, count", [
    pytest.param((), 0, id="the empty tree has no leaves"),
    pytest.param(("1-1",), 1, id="a single revision is one leaf"),
    pytest.param(TWO_CHILD_SIBS, 2, id="two children are two leaves"),
    pytest.param(("3-1bb",), 1, id="a stemmed tree counts its leaf"),
])
def test_count_leaves(branches, count):
    assert len(collect_leaves(tree(*branches))) == count


def test_rev_exists_and_is_leaf():
    t = tree(*TWO_CHILD_SIBS)
    assert revtree.rev_exists(t, rev("1-1")) and revtree.rev_exists(t, rev("2-1b"))
    assert not revtree.rev_exists(t, rev("2-1c")) and not revtree.rev_exists(t, rev("3-1a"))
    assert revtree.is_leaf(t, rev("2-1a")) and not revtree.is_leaf(t, rev("1-1"))
    assert not revtree.is_leaf(t, rev("9-zz"))


# ---------------------------------------------------------------------------------------------------------
# revs_diff: find_missing (couch_key_tree_tests "Missing tree leaves") plus _revs_diff's possible_ancestors
# (couch_db:find_missing/2: the leaves whose pos is below some missing revision's pos)

REVS_DIFF_CASES = [
    # (id, tree, revisions asked about, missing, possible_ancestors)
    ("nothing is missing when every revision is known", TWO_CHILD_SIBS, "1-1 2-1a", "", ""),
    ("unknown revisions are missing, in the order asked", TWO_CHILD_SIBS, "1-1 1-10 2-1a 101-x", "1-10 101-x",
     "2-1b 2-1a"),
    ("a stemmed-away revision is missing", STEMMED_1A, "1-1 2-1a 101-x", "1-1 101-x", "3-1aa"),
    ("revisions before a stemmed root are missing", ("3-1aa",), "1-1 2-1a 101-x", "1-1 2-1a 101-x", "3-1aa"),
    ("possible ancestors are only the leaves older than a missing revision", ("1-a 2-b", "1-a 2-c 3-d"),
     "3-x", "3-x", "2-b"),
    ("no possible ancestors when no leaf is older", ("1-a",), "1-z", "1-z", ""),
    ("a revision asked twice is reported once", ("1-a",), "2-x 2-x", "2-x", "1-a"),
    ("everything is missing from an unknown document", (), "1-a 2-b", "1-a 2-b", ""),
    ("a deleted leaf is a possible ancestor too", ("1-a 2-b†",), "3-c", "3-c", "2-b"),
]


@pytest.mark.parametrize("branches, asked, missing, ancestors",
                         [case[1:] for case in REVS_DIFF_CASES], ids=[case[0] for case in REVS_DIFF_CASES])
def test_revs_diff(branches, asked, missing, ancestors):
    assert revtree.revs_diff(tree(*branches), revs(asked)) == (revs(missing), revs(ancestors))


# ---------------------------------------------------------------------------------------------------------
# The edges: rev strings and the stored JSON form

@pytest.mark.parametrize("text, expected", [
    ("1-abc", (1, "abc")),
    ("12-0123456789abcdef0123456789abcdef", (12, "0123456789abcdef0123456789abcdef")),
    ("0-1", (0, "1")),                 # _local documents' revisions
    ("3-a-b", (3, "a-b")),             # the hash is everything after the first "-"
    ("1-", (1, "")),                   # CouchDB 3.4.3 takes an empty rev id
])
def test_parse_rev(text, expected):
    assert parse_rev(text) == expected
    assert revtree.format_rev(expected) == text


@pytest.mark.parametrize("text, expected", [
    ("+1-a", (1, "a")),                                      # Erlang's list_to_integer/1 takes a sign
    ("2-0123456789ABCDEF0123456789ABCDEF", (2, "0123456789abcdef0123456789abcdef")),  # a 128-bit number
])
def test_parse_rev_reads_what_couchdb_reads(text, expected):
    assert parse_rev(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-abc", "1.5-a", "x-1", "\u0661-a", " 1-a", None, 5, ["1-a"],
                                  "1-" + "z" * 32])
def test_parse_rev_refuses(text):
    with pytest.raises(ValueError):
        parse_rev(text)


@pytest.mark.parametrize("branches", [case[4] for case in MERGE_CASES] + [case[1] for case in WINNER_CASES])
def test_tree_json_round_trip(branches):
    t = tree(*branches)
    assert revtree.tree_from_json(revtree.tree_to_json(t)) == t


# ---------------------------------------------------------------------------------------------------------
# Properties: random histories, cut into root-to-leaf paths, merged in random orders


@st.composite
def histories(draw, max_revisions=30):
    """A random document history: up to three roots (one past pos 1 stands for stemmed history), random
    children, short hex hashes (so equal pos and near-equal hashes happen), some leaves deleted."""
    parents = {}
    for i in range(draw(st.integers(1, max_revisions))):
        if i == 0 or draw(st.integers(0, 9)) == 0:
            pos, parent = draw(st.integers(1, 4)), None
        else:
            parent = draw(st.sampled_from(sorted(parents)))
            pos = parent[0] + 1
        parents.setdefault((pos, draw(st.text("0123456789abcdef", min_size=1, max_size=2))), parent)
    leaves = sorted(set(parents) - set(parents.values()))
    deleted = {leaf for leaf in leaves if draw(st.booleans())}
    return {r: Node(parent, r in deleted) for r, parent in parents.items()}


def leaf_paths(t, cuts=None):
    """Each leaf's ``(path, deleted)`` as ``merge`` takes it; ``cuts`` keeps only the newest N of a path."""
    result = []
    for i, leaf in enumerate(sorted(collect_leaves(t))):
        full = path_to(t, leaf)
        keep = len(full) if cuts is None else max(1, min(len(full), cuts[i % len(cuts)]))
        result.append((full[:keep], t[leaf].deleted))
    return result


def merge_all(paths, t=None):
    t = {} if t is None else t
    for p in paths:
        t = merged(t, p)
    return t


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_merging_full_paths_in_any_order_rebuilds_the_tree(history, data):
    paths = leaf_paths(history)
    first = merge_all(data.draw(st.permutations(paths)))
    second = merge_all(data.draw(st.permutations(paths)))
    assert first == second == history
    assert revtree.winning_rev(first) == revtree.winning_rev(second)


@settings(max_examples=200, deadline=None)
@given(histories(), st.lists(st.integers(1, 6), min_size=1, max_size=5), st.data())
def test_merging_cut_paths_in_any_order_gives_the_same_tree(history, cuts, data):
    paths = leaf_paths(history, cuts)
    first = merge_all(data.draw(st.permutations(paths)))
    second = merge_all(data.draw(st.permutations(paths)))
    assert first == second
    assert revtree.winning_rev(first) == revtree.winning_rev(history)
    assert revtree.collect_conflicts(first) == revtree.collect_conflicts(history)
    assert revtree.collect_deleted_conflicts(first) == revtree.collect_deleted_conflicts(history)
    # ...and it is the history with only the links that some path carried
    linked = {(p[i], p[i + 1]) for p, _ in paths for i in range(len(p) - 1)}
    assert first == {r: Node(n.parent if (r, n.parent) in linked else None, n.deleted)
                     for r, n in history.items() if r in first}


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_merge_is_reflexive_and_the_empty_tree_is_its_identity(history, data):
    p = data.draw(st.sampled_from(leaf_paths(history)))
    assert merged(history, p) == history
    assert merged({}, p) == {r: Node(p[0][i + 1] if i + 1 < len(p[0]) else None, p[1] if i == 0 else False)
                             for i, r in enumerate(p[0])}


def depth(t):
    return max(len(path_to(t, leaf)) for leaf in collect_leaves(t))


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(0, 5), st.data())
def test_stem_with_a_limit_at_least_the_depth_changes_nothing(history, extra, data):
    assert stemmed(history, depth(history) + extra) == history
    rebuilt = merge_all(data.draw(st.permutations(leaf_paths(history))))
    assert stemmed(rebuilt, depth(rebuilt) + extra) == rebuilt


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(1, 8), st.integers(1, 8))
def test_stemming_twice_is_stemming_to_the_smaller_limit(history, n, m):
    once = stemmed(history, min(n, m))
    assert stemmed(stemmed(history, n), m) == once
    assert revtree.winning_rev(once) == revtree.winning_rev(history)
    assert revtree.collect_conflicts(once) == revtree.collect_conflicts(history)


@settings(max_examples=100, deadline=None)
@given(histories(), st.integers(1, 4), st.data())
def test_writing_with_stemming_keeps_the_winner(history, limit, data):
    """Merge-then-stem on every write (what Database does) ends at the same leaves and winner."""
    t = {}
    for p in data.draw(st.permutations(leaf_paths(history))):
        t = stemmed(merged(t, p), limit)
    assert collect_leaves(t) == collect_leaves(history)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_json_round_trip_of_random_trees(history):
    assert revtree.tree_from_json(revtree.tree_to_json(history)) == history
