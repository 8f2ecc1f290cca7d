// PouchDB (npm, in Node) drives replication against a CouchDB-compatible server, for
// tests/replicator/test_interop.py.
//
//   node replicator_pouchdb.mjs SOURCE_DB_URL TARGET_DB_URL [--live N]
//
// 1. one-shot pull SOURCE -> an in-memory PouchDB
// 2. one-shot push that PouchDB -> TARGET (created by PouchDB if missing)
// 3. with --live N: live pull from SOURCE and live push to TARGET (longpoll); once both are idle, write N
//    documents (every 5th with an attachment) and delete one into SOURCE over HTTP, wait until TARGET has
//    them, cancel both
// Prints one JSON object: {pulled, pushed, live_written, snapshot}, where snapshot maps every doc id of
// the in-memory PouchDB to {leaves: [[rev, [ids...], deleted, {att: md5 hex of its bytes}, body], ...] sorted by rev,
// winner: rev or null when deleted, conflicts: [...] sorted} — the shape tests/replicator/test_interop.py
// builds for servers. Exit 0 on success, 2 on error, 3 on timeout. Only loopback URLs are accepted.
import { createHash } from 'node:crypto';
import PouchDB from 'pouchdb-node';
import memory from 'pouchdb-adapter-memory';

PouchDB.plugin(memory);
const TOTAL_TIMEOUT_MS = 240_000;
const LIVE_TIMEOUT_MS = 60_000;
const LOOPBACK = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\//;

const [sourceUrl, targetUrl] = process.argv.slice(2);
const liveAt = process.argv.indexOf('--live');
const liveCount = liveAt > 0 ? Number(process.argv[liveAt + 1]) : 0;
setTimeout(() => { console.error('timed out'); process.exit(3); }, TOTAL_TIMEOUT_MS).unref();

const sortKeys = (v) => (Array.isArray(v) ? v.map(sortKeys)
  : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v);

function leaf(doc) {
  const atts = Object.fromEntries(Object.entries(doc._attachments || {})
    .map(([k, a]) => [k, createHash('md5').update(a.data).digest('hex')]));
  const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_')));
  return [doc._rev, doc._revisions.ids, Boolean(doc._deleted), sortKeys(atts), sortKeys(body)];
}

async function snapshot(db) {
  const changes = await db.changes({ style: 'all_docs', since: 0 });
  const ids = [...new Set(changes.results.map((r) => r.id))].sort();
  const all = await db.allDocs({ keys: ids, include_docs: true, conflicts: true });
  const snap = {};
  for (const [i, id] of ids.entries()) {
    const leaves = (await db.get(id, { open_revs: 'all', revs: true, attachments: true, binary: true }))
      .filter((r) => r.ok).map((r) => leaf(r.ok));
    leaves.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const row = all.rows[i];
    const live = row.value && !row.value.deleted;
    snap[id] = { leaves, winner: live ? row.value.rev : null, conflicts: live ? [...(row.doc._conflicts || [])].sort() : [] };
  }
  return snap;
}

function idle(rep) {
  return new Promise((resolve) => rep.once('paused', resolve));
}

async function live(local, source, target) {
  const failures = [];
  const pull = local.replicate.from(source, { live: true, retry: false });
  const push = local.replicate.to(target, { live: true, retry: false });
  for (const rep of [pull, push]) rep.on('error', (err) => failures.push(String(err)));
  await Promise.all([idle(pull), idle(push)]);
  const docs = [];
  for (let k = 0; k < liveCount; k++) {
    const doc = { _id: `live-${String(k).padStart(4, '0')}`, n: k };
    if (k % 5 === 0) doc._attachments = { 'live.txt': { content_type: 'text/plain', data: Buffer.from(`live ${k}`).toString('base64') } };
    docs.push(doc);
  }
  await source.bulkDocs(docs);
  const victim = await source.get('live-0001');
  await source.remove(victim);
  const deadline = Date.now() + LIVE_TIMEOUT_MS;
  let written = 0;
  for (;;) {
    const got = await target.allDocs({ keys: docs.map((d) => d._id) });
    written = got.rows.filter((r) => r.value).length;
    const gone = got.rows[1].value && got.rows[1].value.deleted;
    if ((written === liveCount && gone) || failures.length || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  pull.cancel();
  push.cancel();
  await Promise.all([pull, push]);
  if (failures.length) throw new Error(`live replication failed: ${failures.join('; ')}`);
  if (written !== liveCount) throw new Error(`live: ${written} of ${liveCount} documents arrived in time`);
  return written;
}

async function main() {
  if (!LOOPBACK.test(sourceUrl || '') || !LOOPBACK.test(targetUrl || '')) {
    throw new Error('usage: node replicator_pouchdb.mjs SOURCE_DB_URL TARGET_DB_URL [--live N] (loopback URLs)');
  }
  const local = new PouchDB(`interop-${Date.now()}`, { adapter: 'memory' });
  const source = new PouchDB(sourceUrl, { skip_setup: true });
  const target = new PouchDB(targetUrl);
  const pulled = (await local.replicate.from(source)).docs_written;
  const pushed = (await local.replicate.to(target)).docs_written;
  const liveWritten = liveCount ? await live(local, source, target) : 0;
  console.log(JSON.stringify({ pulled, pushed, live_written: liveWritten, snapshot: await snapshot(local) }));
}

main().catch((err) => { console.error(String((err && err.stack) || err)); process.exit(2); });
