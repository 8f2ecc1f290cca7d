// Ask the real pouchdb-merge (npm, PouchDB 9) about revision trees, for tests/store/test_revtree_pouchdb.py.
//
// stdin:  a JSON array of cases, each either
//           {"rev_tree": [{pos, ids: [hash, opts, [children...]]}, ...]}   (PouchDB's stored rev_tree)
//         or
//           {"paths": [{pos, ids: [...]}, ...], "revs_limit": N}          (merged one by one into [])
// stdout: a JSON array with one answer per case:
//           {"winningRev": "N-hash", "conflicts": ["N-hash", ...], "leaves": [["N-hash", deleted], ...],
//            "rev_tree": [...]}
//         where conflicts is collectConflicts() in PouchDB's own order and rev_tree is the tree the
//         answer was computed on (the merged one for "paths").

import pouchdbMerge from 'pouchdb-merge';

const { merge, winningRev, collectConflicts, collectLeaves } = pouchdbMerge;

function treeOf(input) {
  if (input.rev_tree) {
    return input.rev_tree;
  }
  let tree = [];
  for (const path of input.paths) {
    tree = merge(tree, path, input.revs_limit).tree;
  }
  return tree;
}

function answer(input) {
  const revTree = treeOf(input);
  // collectLeaves and winningRev do not mutate; merge did its mutation above, on our own copy.
  const metadata = { rev_tree: revTree };
  return {
    winningRev: winningRev(metadata),
    conflicts: collectConflicts(metadata),
    leaves: collectLeaves(revTree).map((leaf) => [leaf.rev, !!leaf.opts.deleted]),
    rev_tree: revTree,
  };
}

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));
process.stdout.write(JSON.stringify(cases.map(answer)));
