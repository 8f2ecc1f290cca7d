"""Cross-check ``browsercouch.store.revtree`` against the real PouchDB algorithm (npm ``pouchdb-merge`` 9).

Seeded random trees are converted to PouchDB's nested ``rev_tree`` format and handed, all at once, to
``tests/node/winning_rev.mjs``, which answers with PouchDB's ``winningRev``, ``collectConflicts`` and
``collectLeaves``. A second check has PouchDB itself build each tree, by merging the leaves' paths (some cut
short, in a shuffled order, with a small or large ``revs_limit``), and compares the outcome with ours.

Conflicts and leaves are compared as sets: PouchDB lists conflicts by pos only (ties in tree-walk order),
while CouchDB (``couch_doc:to_doc_info_path``) and we list them in winner order; and PouchDB's per-path
stemming can leave one revision in two of its rooted trees, so it may report the same leaf (and conflict)
twice, which the seeded merge cases below do show. Tree shapes are not compared after stemming, where
PouchDB and CouchDB 3.x differ by design (see ``test_revtree.py``); leaves are.
"""

import json
import random
import subprocess

import pytest
from helpers import NODE_DIR, NODE_MODULES

from browsercouch.store import revtree
from browsercouch.store.revtree import Node, format_rev

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not (NODE_MODULES / "pouchdb-merge").is_dir(),
                       reason="tests/node/node_modules/pouchdb-merge is missing: "
                              "run `npm install` in tests/node"),
]

SCRIPT = NODE_DIR / "winning_rev.mjs"
SEED = 5984
TREES = 200
NODE_TIMEOUT = 60
HEX = "0123456789abcdef"


def random_hash(rng):
    if rng.random() < 0.2:
        return "".join(rng.choice(HEX) for _ in range(32))
    return "".join(rng.choice(HEX) for _ in range(rng.randint(1, 2)))


def random_tree(rng):
    """Up to ~40 revisions under one to three roots (a root past pos 1 is stemmed history); short hashes so
    that equal positions and close hashes are common; deleted flags on leaves and inner revisions."""
    parents = {}
    for i in range(rng.randint(1, 40)):
        if i == 0 or rng.random() < 0.08:
            pos, parent = rng.randint(1, 4), None
        else:
            parent = rng.choice(sorted(parents))
            pos = parent[0] + 1
        parents.setdefault((pos, random_hash(rng)), parent)
    return {rev: Node(parent, rng.random() < 0.35) for rev, parent in parents.items()}


def to_pouchdb(tree):
    """Our flat tree as PouchDB's ``rev_tree``: ``[{pos, ids: [hash, opts, [children]]}]``, children sorted
    by hash and roots by pos, as pouchdb-merge keeps them."""
    children = {}
    for rev, node in tree.items():
        children.setdefault(node.parent, []).append(rev)

    def nest(rev):
        opts = {"deleted": True} if tree[rev].deleted else {}
        return [rev[1], opts, [nest(child) for child in sorted(children.get(rev, []), key=lambda r: r[1])]]

    return [{"pos": root[0], "ids": nest(root)} for root in sorted(children[None])]


def path_to_pouchdb(path, deleted):
    """A path (newest first) as the one-branch tree pouchdb-merge's ``merge`` takes."""
    node = [path[0][1], {"deleted": True} if deleted else {}, []]
    for rev in path[1:]:
        node = [rev[1], {}, [node]]
    return {"pos": path[-1][0], "ids": node}


def ask_pouchdb(cases):
    proc = subprocess.run(["node", str(SCRIPT)], input=json.dumps(cases), capture_output=True, text=True,
                          cwd=NODE_DIR, timeout=NODE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout)
    assert len(answers) == len(cases)
    return answers


def ours(tree):
    leaves = revtree.collect_leaves(tree)
    return {
        "winningRev": format_rev(revtree.winning_rev(tree)),
        "conflicts": sorted(format_rev(r) for r in revtree.collect_conflicts(tree)),
        "leaves": sorted([format_rev(r), tree[r].deleted] for r in leaves),
    }


def theirs(answer):
    return {
        "winningRev": answer["winningRev"],
        "conflicts": sorted(set(answer["conflicts"])),
        "leaves": sorted(map(list, {tuple(leaf) for leaf in answer["leaves"]})),
    }


@pytest.fixture(scope="module")
def trees():
    rng = random.Random(SEED)
    return [random_tree(rng) for _ in range(TREES)]


def test_winner_and_conflicts_match_pouchdb(trees):
    answers = ask_pouchdb([{"rev_tree": to_pouchdb(tree)} for tree in trees])
    mismatches = [(tree, theirs(answer), ours(tree)) for tree, answer in zip(trees, answers, strict=True)
                  if theirs(answer) != ours(tree)]
    assert not mismatches, f"{len(mismatches)} of {len(trees)} trees differ; first: {mismatches[0]}"


def merge_case(tree, rng):
    """The leaves' paths of ``tree`` (a third of them cut short), shuffled, and a revs_limit."""
    paths = []
    for leaf in revtree.collect_leaves(tree):
        full = revtree.path_to(tree, leaf)
        keep = rng.randint(1, len(full)) if rng.random() < 0.33 else len(full)
        paths.append((full[:keep], tree[leaf].deleted))
    rng.shuffle(paths)
    return paths, rng.choice([1, 2, 3, 5, 1000])


def test_merging_paths_matches_pouchdb(trees):
    rng = random.Random(SEED + 1)
    cases = [merge_case(tree, rng) for tree in trees]
    answers = ask_pouchdb([{"paths": [path_to_pouchdb(*p) for p in paths], "revs_limit": limit}
                           for paths, limit in cases])
    mismatches = []
    for (paths, limit), answer in zip(cases, answers, strict=True):
        tree = {}
        for path, deleted in paths:
            tree = revtree.stem(revtree.merge(tree, path, deleted), limit)
        if theirs(answer) != ours(tree):
            mismatches.append((paths, limit, theirs(answer), ours(tree)))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} merges differ; first: {mismatches[0]}"


def test_the_conversion_round_trips_through_pouchdb():
    """The harness itself: a tree we draw by hand comes back from PouchDB with the answer we know."""
    # 1-a ┬─ 2-b ── 3-c†
    #     └─ 2-d             PouchDB: winner 2-d (live beats deleted), no conflicts, leaves 3-c†, 2-d
    tree = {(1, "a"): Node(None, False), (2, "b"): Node((1, "a"), False), (3, "c"): Node((2, "b"), True),
            (2, "d"): Node((1, "a"), False)}
    assert to_pouchdb(tree) == [{"pos": 1, "ids": ["a", {}, [["b", {}, [["c", {"deleted": True}, []]]],
                                                             ["d", {}, []]]]}]
    [answer] = ask_pouchdb([{"rev_tree": to_pouchdb(tree)}])
    assert theirs(answer) == {"winningRev": "2-d", "conflicts": [], "leaves": [["2-d", False], ["3-c", True]]}
