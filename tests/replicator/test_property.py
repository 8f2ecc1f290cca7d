"""A property of the whole replicator: three peers that edit, delete and write conflicting branches
concurrently, then replicate in random pairs and orders, end — once replication is quiet — with identical
revision trees and identical winners; and each winner is the one PouchDB's algorithm (npm
``pouchdb-merge``, through ``tests/node/winning_rev.mjs``) picks for the same tree.

Each peer is reached locally or through HTTP (the in-memory pipe, the real h11 driver), drawn per example.
"""

import asyncio
import hashlib
import itertools
import json
import subprocess

import pytest
from helpers import NODE_DIR, NODE_MODULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from browsercouch.errors import NotFound
from browsercouch.replicator import ReplicationOptions, replicate
from browsercouch.store import revtree

from .peers import open_peer, snapshot

DOCS = ["a", "b", "c"]
PEERS = range(3)
# Rounds of all-pairs replication allowed before "quiet" must have been reached (one round suffices for
# three peers; the rest is margin that a bug would exhaust).
MAX_ROUNDS = 4
# Trees sent to PouchDB at most, across all examples.
MAX_TREES = 400
NODE_TIMEOUT = 60

peer = st.sampled_from(PEERS)
doc = st.sampled_from(DOCS)
operation = st.one_of(
    st.tuples(st.just("edit"), peer, doc),
    st.tuples(st.just("delete"), peer, doc),
    st.tuples(st.just("branch"), peer, doc, st.integers(0, 5), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("replicate"), peer, peer),
)
scenario = st.tuples(st.lists(st.sampled_from(["local", "pipe"]), min_size=3, max_size=3),
                     st.lists(operation, max_size=30))


def _edit(db, doc_id, label, deleted=False):
    try:
        current = db.get(doc_id)
    except NotFound:
        current = None
    if current is None and deleted:
        return
    body = {"_id": doc_id, "label": label}
    if current is not None:
        body["_rev"] = current["_rev"]
    if deleted:
        body["_deleted"] = True
    db.put(body)


def _branch(db, doc_id, label, leaf, depth, deleted):
    """A replicated-style write (``new_edits=false``) branching off any revision already in the tree."""
    try:
        leaves = [row["ok"] for row in db.open_revs(doc_id, "all", revs=True) if "ok" in row]
    except NotFound:
        leaves = []
    if leaves:
        revisions = leaves[leaf % len(leaves)]["_revisions"]
        ids = revisions["ids"][min(depth, len(revisions["ids"]) - 1):]
        start = revisions["start"] - (len(revisions["ids"]) - len(ids))
    else:
        start, ids = 0, []
    digest = hashlib.md5(label.encode()).hexdigest()
    body = {"_id": doc_id, "_rev": f"{start + 1}-{digest}", "label": label,
            "_revisions": {"start": start + 1, "ids": [digest, *ids]}}
    if deleted:
        body["_deleted"] = True
    db.put(body, new_edits=False)


async def _apply(peers, step, op):
    kind, who, doc_id, *rest = op
    db = peers[who].db("db")
    label = f"{step}-{who}-{kind}"
    if kind == "edit":
        _edit(db, doc_id, label)
    elif kind == "delete":
        _edit(db, doc_id, label, deleted=True)
    elif kind == "branch":
        _branch(db, doc_id, label, *rest)
    elif who != doc_id:  # "replicate": doc_id is the other peer here
        await _replicate(peers, who, doc_id)


async def _replicate(peers, source, target):
    options = ReplicationOptions(create_target=True, batch_size=2, batches_in_flight=3)
    result = await replicate(peers[source].endpoint("db"), peers[target].endpoint("db"), options)
    return result["history"][0]["docs_written"]


def _trees(db):
    return {doc_id: tree for doc_id, _, _, _, tree in db.change_rows(0)}


def _shapes(db):
    """Each tree's structure, and the deleted flags of its leaves. An inner revision's flag travels in no
    replication message (``_revisions`` lists ids only), so CouchDB and PouchDB peers differ there too."""
    shapes = {}
    for doc_id, tree in _trees(db).items():
        leaves = set(revtree.collect_leaves(tree))
        shapes[doc_id] = {rev: (node.parent, node.deleted if rev in leaves else None)
                          for rev, node in tree.items()}
    return shapes


async def _scenario(kinds, ops):
    """Run one example; return the converged trees of peer 0."""
    async with open_peer(kinds[0]) as p0, open_peer(kinds[1]) as p1, open_peer(kinds[2]) as p2:
        peers = [p0, p1, p2]
        for p in peers:
            p.db("db")
        for step, op in enumerate(ops):
            await _apply(peers, step, op)
        for _ in range(MAX_ROUNDS):
            written = [await _replicate(peers, s, t) for s, t in itertools.permutations(PEERS, 2)]
            if not any(written):
                break
        else:
            raise AssertionError("replication did not become quiet")
        dbs = [p.db("db") for p in peers]
        assert _shapes(dbs[0]) == _shapes(dbs[1]) == _shapes(dbs[2])
        assert snapshot(dbs[0]) == snapshot(dbs[1]) == snapshot(dbs[2])
        return _trees(dbs[0])


def _run(kinds, ops):
    return asyncio.run(asyncio.wait_for(_scenario(kinds, ops), 60))


@pytest.mark.slow  # ~30 s: 150 scenarios of three peers
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_three_peers_converge_to_identical_trees(case):
    _run(*case)


def to_pouchdb(tree):
    """Our flat tree as PouchDB's nested ``rev_tree`` (children sorted by hash, roots by pos)."""
    children = {}
    for rev, node in tree.items():
        children.setdefault(node.parent, []).append(rev)

    def nest(rev):
        opts = {"deleted": True} if tree[rev].deleted else {}
        return [rev[1], opts, [nest(c) for c in sorted(children.get(rev, []), key=lambda r: r[1])]]

    return [{"pos": root[0], "ids": nest(root)} for root in sorted(children[None])]


@pytest.mark.node
@pytest.mark.skipif(not (NODE_MODULES / "pouchdb-merge").is_dir(), reason="run `python build.py` first")
def test_converged_winners_are_the_ones_pouchdb_picks():
    trees = []

    @settings(max_examples=80, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(scenario)
    def collect(case):
        for tree in _run(*case).values():
            if len(trees) < MAX_TREES:
                trees.append(tree)

    collect()
    assert len(trees) > 50 and any(len(revtree.collect_leaves(t)) > 2 for t in trees)
    proc = subprocess.run(["node", str(NODE_DIR / "winning_rev.mjs")], cwd=NODE_DIR, capture_output=True,
                          text=True, input=json.dumps([{"rev_tree": to_pouchdb(t)} for t in trees]),
                          timeout=NODE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout)
    ours = [(revtree.format_rev(revtree.winning_rev(t)),
             sorted(revtree.format_rev(r) for r in revtree.collect_conflicts(t))) for t in trees]
    theirs = [(a["winningRev"], sorted(set(a["conflicts"]))) for a in answers]
    mismatches = [(t, o, p) for t, o, p in zip(trees, ours, theirs, strict=True) if o != p]
    assert not mismatches, f"{len(mismatches)} of {len(trees)} differ; first: {mismatches[0]}"
    # The check can fail: a winner rule that forgets "live beats deleted" disagrees with PouchDB somewhere.
    naive = [revtree.format_rev(max(revtree.collect_leaves(t))) for t in trees]
    assert any(n != p[0] for n, p in zip(naive, theirs, strict=True))
