// PouchDB (npm, in Node) replicates to and from one database of a CouchDB-compatible peer, one-shot and
// live, and every leaf of every document is compared on all three sides.
//
//   node peer_replicate.mjs DB_URL [--docs N] [--fingerprint PATH]
//
// DB_URL is an existing, empty database on a loopback server. Phases, with two in-memory PouchDBs, the
// source and a fresh copy:
//   seed    N docs in the source: every 10th with a small attachment, every 25th deleted, and every 50th
//           written with bulkDocs new_edits:false as 2 branches (every 100th: 3, one of them a deleted
//           leaf; one branch may carry an attachment the other lacks)
//   push    one-shot source -> peer
//   pull    one-shot peer -> copy
//   live    live source -> peer and live peer -> copy; once both are idle, the source gets new docs (with
//           attachments), a new conflict branch, an edit and a deletion; wait until every new leaf is in
//           the peer, then in the copy; cancel both
//   verify  after push, pull and live: the fingerprints of the sides agree (see `fingerprint`)
// The peer's final fingerprint is written to PATH, for the caller to check on its own.
// Prints one JSON line. Exit 0: all agree; 1: mismatch; 2: error; 3: timed out.
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import PouchDB from 'pouchdb-node';
import memory from 'pouchdb-adapter-memory';

PouchDB.plugin(memory);
const TOTAL_TIMEOUT_MS = 150_000;
const LIVE_TIMEOUT_MS = 60_000;
const BATCH = 200;
const MAX_REPORTED = 20;

const dbUrl = process.argv[2];
const option = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const nDocs = Number(option('--docs', '1000'));
const fingerprintPath = option('--fingerprint', null);
const summary = { db: dbUrl, docs: nDocs, ok: false, phases: {}, counts: {}, mismatches: [] };
const done = (code) => { console.log(JSON.stringify(summary)); process.exit(code); };
setTimeout(() => { summary.error = 'timed out'; done(3); }, TOTAL_TIMEOUT_MS).unref();

// Deterministic pseudo-random bytes (xorshift32), so every run writes the same attachments.
function bytes(seed, n) {
  const out = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}
const pad = (i) => String(i).padStart(5, '0');
const hash = (...parts) => crypto.createHash('md5').update(parts.join('/')).digest('hex');
const attachment = (buf, type = 'application/octet-stream') => ({ content_type: type, data: buf.toString('base64') });

async function writeAll(db, docs, options = {}) {
  for (let i = 0; i < docs.length; i += BATCH) {
    const res = await db.bulkDocs(docs.slice(i, i + BATCH), options);
    const bad = res.filter((r) => r.error);
    if (bad.length) throw new Error(`bulkDocs failed: ${JSON.stringify(bad.slice(0, 3))}`);
  }
}

// Branches of one document as new_edits:false writes, all under the first revision 1-<hash(id, root)>:
// 2-a and 2-b, and with `third` a deleted 3-c (over 2-x). `atts` go on branch a only.
function branches(id, fields, { third = false, atts = null } = {}) {
  const root = hash(id, 'root');
  const leaf = (tag, ids, extra) => ({
    _id: id, _rev: `${ids.length}-${ids[0]}`, _revisions: { start: ids.length, ids }, ...fields, ...extra,
  });
  const docs = [
    leaf('a', [hash(id, 'a'), root], { branch: 'a', ...(atts ? { _attachments: atts } : {}) }),
    leaf('b', [hash(id, 'b'), root], { branch: 'b' }),
  ];
  if (third) docs.push(leaf('c', [hash(id, 'c'), hash(id, 'x'), root], { _deleted: true, branch: 'c' }));
  return docs;
}

async function seed(db) {
  const plain = [];
  const branched = [];
  for (let i = 0; i < nDocs; i++) {
    const id = `doc-${pad(i)}`;
    const fields = { n: i, tags: [i % 3, i % 7], text: `document ${id} `.repeat(4) };
    if (i % 50 === 7) {
      const atts = i % 100 === 57 ? { 'branch.bin': attachment(bytes(i, 64 + i % 100)) } : null;
      branched.push(...branches(id, fields, { third: i % 100 === 7, atts }));
      continue;
    }
    if (i % 10 === 0) fields._attachments = { 'small.bin': attachment(bytes(i, 32 + (i % 200))) };
    plain.push({ _id: id, ...fields });
  }
  await writeAll(db, plain);
  await writeAll(db, branched, { new_edits: false });
  for (let i = 3; i < nDocs; i += 25) {
    const id = `doc-${pad(i)}`;
    await db.remove(await db.get(id));
  }
}

// The live phase's writes on the source; returns the leaves they made, as [id, rev] pairs.
async function writeLive(db) {
  const docs = [];
  for (let k = 0; k < 100; k++) {
    const doc = { _id: `live-${pad(k)}`, n: k };
    if (k % 10 === 0) doc._attachments = { 'live.txt': attachment(Buffer.from(`live ${k}\n`), 'text/plain') };
    docs.push(doc);
  }
  const leaves = [];
  for (let i = 0; i < docs.length; i += BATCH) {
    for (const r of await db.bulkDocs(docs.slice(i, i + BATCH))) leaves.push([r.id, r.rev]);
  }
  const branchId = `doc-${pad(57)}`; // a new branch beside a and b, under the same first revision
  const branch = { _id: branchId, _rev: `2-${hash(branchId, 'live')}`, n: 57, branch: 'live',
    _revisions: { start: 2, ids: [hash(branchId, 'live'), hash(branchId, 'root')] } };
  await writeAll(db, [branch], { new_edits: false });
  leaves.push([branchId, branch._rev]);
  const edited = await db.get(`doc-${pad(1)}`);
  leaves.push([edited._id, (await db.put({ ...edited, live: true })).rev]);
  const removed = await db.get(`doc-${pad(2)}`);
  leaves.push([removed._id, (await db.remove(removed)).rev]);
  return leaves;
}

// Whether every [id, rev] of `leaves` is a leaf in `db`.
async function hasLeaves(db, leaves) {
  const found = await allLeaves(db);
  return leaves.every(([id, rev]) => (found.get(id) || []).includes(rev));
}

async function allLeaves(db) {
  const changes = await db.changes({ style: 'all_docs', since: 0, batch_size: 1000 });
  return new Map(changes.results.map((r) => [r.id, r.changes.map((c) => c.rev)]));
}

async function waitFor(what, check) {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > LIVE_TIMEOUT_MS) throw new Error(`live: ${what} not within ${LIVE_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return (Date.now() - t0) / 1000;
}

async function live(source, peer, copy) {
  const failures = [];
  const push = source.replicate.to(peer, { live: true, retry: false });
  const pull = copy.replicate.from(peer, { live: true, retry: false });
  for (const rep of [push, pull]) rep.on('error', (err) => failures.push(String(err)));
  try {
    // Write only once both are caught up and waiting, so the pull must see the changes through a
    // longpoll already open on the peer.
    const idle = Promise.all([push, pull].map((rep) => new Promise((ok) => rep.once('paused', ok))));
    let settled = false;
    idle.then(() => { settled = true; });
    await waitFor('idle', async () => settled || failures.length > 0);
    const leaves = await writeLive(source);
    summary.counts.live_leaves = leaves.length;
    summary.phases.live_to_peer = await waitFor('arrival in the peer', () => hasLeaves(peer, leaves));
    summary.phases.live_to_copy = await waitFor('arrival in the copy', () => hasLeaves(copy, leaves));
  } finally {
    push.cancel();
    pull.cancel();
    await Promise.all([push, pull]);
  }
  if (failures.length) throw new Error(`live replication failed: ${failures.join('; ')}`);
}

// id -> {rev -> {deleted, body (no _ fields), atts {name -> {content_type, digest, length}}}}, every leaf.
async function fingerprint(db) {
  const leaves = [...await allLeaves(db)].flatMap(([id, revs]) => revs.map((rev) => ({ id, rev })));
  const out = {};
  for (let i = 0; i < leaves.length; i += BATCH) {
    const { results } = await db.bulkGet({ docs: leaves.slice(i, i + BATCH) });
    for (const { id, docs } of results) {
      for (const got of docs) {
        if (!got.ok) throw new Error(`bulkGet ${id}: ${JSON.stringify(got)}`);
        (out[id] ||= {})[got.ok._rev] = leafPrint(got.ok);
      }
    }
  }
  return out;
}

function leafPrint(doc) {
  const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_')).sort());
  const atts = Object.fromEntries(Object.entries(doc._attachments || {}).sort().map(
    ([name, a]) => [name, { content_type: a.content_type, digest: a.digest, length: a.length }]));
  return { deleted: Boolean(doc._deleted), body, atts };
}

// Canonical JSON (sorted keys), so that key order does not count as a difference.
const canonical = (v) => JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]])) : x));

function compare(phase, prints) {
  const [first, ...rest] = Object.keys(prints);
  let found = 0;
  for (const other of rest) {
    const [a, b] = [prints[first], prints[other]];
    for (const id of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (canonical(a[id]) === canonical(b[id])) continue;
      found += 1;
      if (summary.mismatches.length < MAX_REPORTED) summary.mismatches.push({ phase, id, [first]: a[id], [other]: b[id] });
    }
  }
  summary.counts[`${phase}_mismatches`] = found;
  return prints[first];
}

async function timed(name, fn) {
  const t0 = performance.now();
  const result = await fn();
  summary.phases[name] = Number(((performance.now() - t0) / 1000).toFixed(3));
  return result;
}

async function main() {
  if (!(nDocs >= 100)) throw new Error(`--docs must be a number >= 100; got ${nDocs}`);
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\/[^/]+$/.test(dbUrl || '')) {
    throw new Error(`usage: DB_URL (a database on a loopback server) [--docs N] [--fingerprint PATH]; got ${dbUrl}`);
  }
  const tag = crypto.randomBytes(4).toString('hex');
  const source = new PouchDB(`source-${tag}`, { adapter: 'memory' });
  const copy = new PouchDB(`copy-${tag}`, { adapter: 'memory' });
  const peer = new PouchDB(dbUrl, { skip_setup: true });
  await timed('seed', () => seed(source));
  summary.counts.pushed = (await timed('push', () => source.replicate.to(peer))).docs_written;
  compare('push', { source: await fingerprint(source), peer: await fingerprint(peer) });
  summary.counts.pulled = (await timed('pull', () => copy.replicate.from(peer))).docs_written;
  compare('pull', { peer: await fingerprint(peer), copy: await fingerprint(copy) });
  await timed('live', () => live(source, peer, copy));
  const final = compare('final', {
    peer: await fingerprint(peer), source: await fingerprint(source), copy: await fingerprint(copy),
  });
  const leaves = Object.values(final).map((revs) => Object.values(revs));
  summary.counts.ids = leaves.length;
  summary.counts.conflicted = leaves.filter((l) => l.filter((leaf) => !leaf.deleted).length > 1).length;
  summary.counts.deleted_leaves = leaves.flat().filter((leaf) => leaf.deleted).length;
  summary.counts.with_attachments = leaves.filter((l) => l.some((leaf) => Object.keys(leaf.atts).length)).length;
  if (fingerprintPath) writeFileSync(fingerprintPath, JSON.stringify(final));
  summary.ok = summary.mismatches.length === 0;
  done(summary.ok ? 0 : 1);
}

main().catch((err) => { summary.error = String(err && err.stack || err); done(2); });
