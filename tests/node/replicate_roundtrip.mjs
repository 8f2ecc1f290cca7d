// PouchDB (npm, in Node) replicates with a CouchDB-compatible server and back, then both sides are compared.
//
//   node replicate_roundtrip.mjs BASE_URL [--docs N]
//
// Phases, on a fresh database on the server and an in-memory PouchDB:
//   seed     N docs on the server (every 10th with a small attachment, 3 with ~100 KB), every 25th deleted
//   pull     one-shot server -> PouchDB
//   sync     both sides edit the same docs from the same rev (conflicts; also edit-vs-delete both ways,
//            a new attachment, new docs), then one-shot push and pull
//   live     live pull and push (longpoll _changes); write on both sides, wait for arrival, cancel
//   verify   ids, winning revs, sorted _conflicts, deleted status, attachment digests and bodies agree on
//            both sides and with what we wrote; attachment bytes re-read and hashed
//   control  corrupt the PouchDB side on purpose: the comparison must now fail (proves it can)
// Prints one JSON line. Exit 0: all agree; 1: mismatch; 2: error; 3: timed out.
import crypto from 'node:crypto';
import PouchDB from 'pouchdb-node';
import memory from 'pouchdb-adapter-memory';

PouchDB.plugin(memory);
const TOTAL_TIMEOUT_MS = 240_000;
const LIVE_TIMEOUT_MS = 60_000;
const MAX_REPORTED = 20;

const base = process.argv[2];
const docsAt = process.argv.indexOf('--docs');
const nDocs = docsAt > 0 ? Number(process.argv[docsAt + 1]) : 1000;
const summary = { server: base, docs: nDocs, ok: false, phases: {}, counts: {}, mismatches: [] };
const done = (code) => { console.log(JSON.stringify(summary)); process.exit(code); };
setTimeout(() => { summary.error = 'timed out'; done(3); }, TOTAL_TIMEOUT_MS).unref();

// Deterministic pseudo-random bytes (xorshift32), so every run writes the same attachments.
function bytes(seed, n) {
  const out = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}
const digest = (buf) => 'md5-' + crypto.createHash('md5').update(buf).digest('base64');
const pad = (i) => String(i).padStart(5, '0');
const expected = new Map(); // id -> {deleted, conflicted, atts: {name: digest}}

function attach(doc, name, buf, type = 'application/octet-stream') {
  doc._attachments = { ...doc._attachments, [name]: { content_type: type, data: buf.toString('base64') } };
  expected.get(doc._id).atts[name] = digest(buf);
  return doc;
}

function newDoc(id, fields) {
  expected.set(id, { deleted: false, conflicted: false, atts: {} });
  return { _id: id, ...fields, text: `document ${id} `.repeat(8) };
}

async function writeAll(db, docs) {
  for (let i = 0; i < docs.length; i += 200) {
    const res = await db.bulkDocs(docs.slice(i, i + 200));
    const bad = res.filter((r) => r.error);
    if (bad.length) throw new Error(`bulkDocs failed: ${JSON.stringify(bad.slice(0, 3))}`);
  }
}

async function seed(remote) {
  const big = new Set([7, Math.floor(nDocs / 2) + 7, nDocs - 3]);
  const docs = [];
  for (let i = 0; i < nDocs; i++) {
    const doc = newDoc(`doc-${pad(i)}`, { n: i, tags: [i % 3, i % 7] });
    if (i % 10 === 0) attach(doc, 'small.bin', bytes(i, 32 + (i % 200)));
    if (big.has(i)) attach(doc, 'big.bin', bytes(i + 1, 100 * 1024));
    docs.push(doc);
  }
  await writeAll(remote, docs);
  await deleteDocs(remote, docs.filter((d, i) => i % 25 === 3).map((d) => d._id));
}

async function deleteDocs(db, ids) {
  for (const id of ids) {
    await db.remove(await db.get(id));
    expected.get(id).deleted = true;
  }
}

async function edit(db, id, fields) {
  const doc = await db.get(id);
  return db.put({ ...doc, ...fields });
}

// Same parent rev edited on both sides: i%50==11 both edit (a conflict); 13 PouchDB deletes, server edits;
// 19 server deletes, PouchDB edits (the live edit wins either way); 17 PouchDB adds an attachment.
async function divergeAndSync(local, remote) {
  for (let i = 0; i < nDocs; i++) {
    const id = `doc-${pad(i)}`;
    const kind = i % 50;
    if (kind === 11) {
      await edit(local, id, { side: 'pouchdb' });
      await edit(remote, id, { side: 'server' });
      expected.get(id).conflicted = true;
    } else if (kind === 13 || kind === 19) {
      const [deleter, editor] = kind === 13 ? [local, remote] : [remote, local];
      await deleter.remove(await deleter.get(id));
      await edit(editor, id, { side: 'survivor' });
    } else if (kind === 17) {
      await local.put(attach(await local.get(id), 'local.txt', Buffer.from(`note on ${id}\n`), 'text/plain'));
    }
  }
  const fresh = [];
  for (let k = 0; k < 20; k++) {
    const doc = newDoc(`pouch-${pad(k)}`, { n: k });
    fresh.push(k % 4 === 0 ? attach(doc, 'p.bin', bytes(10_000 + k, 500)) : doc);
  }
  await writeAll(local, fresh);
  summary.counts.pushed = (await local.replicate.to(remote)).docs_written;
  summary.counts.pulled_back = (await local.replicate.from(remote)).docs_written;
}

async function live(local, remote) {
  const failures = [];
  const pull = local.replicate.from(remote, { live: true, retry: false });
  const push = local.replicate.to(remote, { live: true, retry: false });
  for (const rep of [pull, push]) rep.on('error', (err) => failures.push(String(err)));
  // Write only once both are caught up and waiting ('paused'), so the changes must come through a
  // longpoll that was already open on the server.
  await withDeadline(Promise.all([pull, push].map((rep) => new Promise((ok) => rep.once('paused', ok)))), 'idle');
  const serverDocs = [];
  for (let k = 0; k < 50; k++) {
    const doc = newDoc(`live-server-${pad(k)}`, { n: k });
    serverDocs.push(k % 10 === 0 ? attach(doc, 'live.bin', bytes(20_000 + k, 300)) : doc);
  }
  await writeAll(remote, serverDocs);
  for (let i = 1; i < nDocs; i += 97) if (!expected.get(`doc-${pad(i)}`).deleted) {
    await edit(remote, `doc-${pad(i)}`, { live: true });
  }
  await writeAll(local, Array.from({ length: 20 }, (_, k) => newDoc(`live-pouch-${pad(k)}`, { n: k })));
  const deadline = Date.now() + LIVE_TIMEOUT_MS;
  while (!(await sameWinners(local, remote))) {
    if (failures.length || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  pull.cancel();
  push.cancel();
  await Promise.all([pull, push]);
  if (failures.length) throw new Error(`live replication failed: ${failures.join('; ')}`);
}

function withDeadline(promise, what) {
  let timer;
  const late = new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`live: not ${what} in time`)), LIVE_TIMEOUT_MS); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function sameWinners(a, b) {
  const keys = [...expected.keys()];
  const [ra, rb] = await Promise.all([a.allDocs({ keys }), b.allDocs({ keys })]);
  return ra.rows.every((row, i) => JSON.stringify(row.value) === JSON.stringify(rb.rows[i].value));
}

const canonical = (v) => (Array.isArray(v) ? v.map(canonical)
  : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])])) : v);

// id -> {rev, deleted, conflicts (sorted), atts {name: digest}, body (canonical JSON without _ fields)}
async function snapshot(db) {
  const changes = await db.changes({ style: 'all_docs', since: 0, batch_size: 1000 });
  const keys = [...new Set(changes.results.map((r) => r.id))].sort();
  const all = await db.allDocs({ keys, include_docs: true, conflicts: true });
  const snap = new Map();
  for (const row of all.rows) {
    if (row.error) { snap.set(row.key, { error: row.error }); continue; }
    const doc = row.doc || {};
    const atts = Object.fromEntries(Object.entries(doc._attachments || {}).map(([k, a]) => [k, a.digest]));
    const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_')));
    snap.set(row.id, {
      rev: row.value.rev, deleted: Boolean(row.value.deleted), conflicts: [...(doc._conflicts || [])].sort(),
      atts, body: JSON.stringify(canonical(body)),
    });
  }
  return snap;
}

function compare(snapA, snapB, nameA, nameB) {
  const out = [];
  for (const id of new Set([...snapA.keys(), ...snapB.keys()])) {
    const a = JSON.stringify(snapA.get(id)); const b = JSON.stringify(snapB.get(id));
    if (a !== b) out.push({ id, [nameA]: snapA.get(id), [nameB]: snapB.get(id) });
  }
  return out;
}

function checkExpected(snap) {
  const out = [];
  for (const id of new Set([...snap.keys(), ...expected.keys()])) {
    const got = snap.get(id); const want = expected.get(id);
    const ok = got && want && got.deleted === want.deleted && (got.conflicts.length > 0) === want.conflicted
      && JSON.stringify(canonical(got.deleted ? {} : got.atts)) === JSON.stringify(canonical(want.deleted ? {} : want.atts));
    if (!ok) out.push({ id, expected: want, got });
  }
  return out;
}

async function checkAttachmentBytes(db, name) {
  const out = [];
  for (const [id, want] of expected) {
    if (want.deleted) continue;
    for (const [att, dig] of Object.entries(want.atts)) {
      const got = digest(await db.getAttachment(id, att));
      if (got !== dig) out.push({ id, att, side: name, expected: dig, got });
    }
  }
  return out;
}

async function verify(local, remote, phase, withBytes = false) {
  const [ls, rs] = [await snapshot(local), await snapshot(remote)];
  const found = [...compare(ls, rs, 'pouchdb', 'server'), ...checkExpected(rs)];
  if (withBytes) found.push(...await checkAttachmentBytes(remote, 'server'), ...await checkAttachmentBytes(local, 'pouchdb'));
  summary.mismatches.push(...found.slice(0, MAX_REPORTED).map((m) => ({ phase, ...m })));
  summary.counts[`${phase}_mismatches`] = found.length;
  return [ls, rs];
}

// Negative control: three kinds of damage on the PouchDB side must show up as three mismatches.
async function control(local, remoteSnap) {
  const alive = [...expected].filter(([, w]) => !w.deleted);
  const withAtt = alive.find(([, w]) => Object.keys(w.atts).length)[0];
  await edit(local, alive[1][0], { corrupted: true });
  await local.remove(await local.get(alive[2][0]));
  const doc = await local.get(withAtt);
  delete doc._attachments;
  await local.put(doc);
  summary.counts.control_mismatches = compare(await snapshot(local), remoteSnap, 'pouchdb', 'server').length;
  return summary.counts.control_mismatches >= 3;
}

async function timed(name, fn) {
  const t0 = performance.now();
  const result = await fn();
  summary.phases[name] = Number(((performance.now() - t0) / 1000).toFixed(3));
  return result;
}

async function main() {
  if (!(nDocs >= 100)) throw new Error(`--docs must be a number >= 100; got ${nDocs}`);
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\//.test(base || '')) throw new Error(`usage: BASE_URL (loopback) [--docs N]; got ${base}`);
  const remote = new PouchDB(`${base}roundtrip-${Date.now()}-${crypto.randomBytes(3).toString('hex')}`);
  const local = new PouchDB(`roundtrip-${crypto.randomBytes(4).toString('hex')}`, { adapter: 'memory' });
  await timed('seed', () => seed(remote));
  summary.counts.pulled = (await timed('pull', () => local.replicate.from(remote))).docs_written;
  await timed('verify_pull', () => verify(local, remote, 'pull'));
  await timed('sync', () => divergeAndSync(local, remote));
  await timed('verify_sync', () => verify(local, remote, 'sync'));
  await timed('live', () => live(local, remote));
  const [, remoteSnap] = await timed('verify', () => verify(local, remote, 'final', true));
  summary.counts.docs = remoteSnap.size;
  summary.counts.deleted = [...remoteSnap.values()].filter((s) => s.deleted).length;
  summary.counts.conflicted = [...remoteSnap.values()].filter((s) => s.conflicts.length).length;
  summary.counts.with_attachments = [...remoteSnap.values()].filter((s) => Object.keys(s.atts).length).length;
  const controlOk = await timed('control', () => control(local, remoteSnap));
  if (!controlOk) summary.error = 'negative control: corrupting the PouchDB side went unnoticed';
  await remote.destroy();
  summary.ok = controlOk && summary.mismatches.length === 0;
  done(summary.ok ? 0 : 1);
}

main().catch((err) => { summary.error = String(err && err.stack || err); done(2); });
