// Time one PouchDB (npm, in Node) replication against a server database, for bench/bench_server.py.
//
//   node bench_pull.mjs pull DB_URL            replicate DB_URL into a fresh in-memory PouchDB
//   node bench_pull.mjs push DB_URL [--docs N] write N ~300-byte docs to an in-memory PouchDB (untimed),
//                                              then replicate them to DB_URL (an empty database)
// Prints one JSON line: {mode, docs_written, seconds}. Only the replication is timed; replication
// options are PouchDB's defaults (batch_size 100, batches_limit 10), as real clients use them.
import crypto from 'node:crypto';
import PouchDB from 'pouchdb-node';
import memory from 'pouchdb-adapter-memory';

PouchDB.plugin(memory);
const [mode, url] = process.argv.slice(2);
const docsAt = process.argv.indexOf('--docs');
const nDocs = docsAt > 0 ? Number(process.argv[docsAt + 1]) : 10_000;
const BATCH = 500;

async function fill(db) {
  for (let i = 0; i < nDocs; i += BATCH) {
    const docs = [];
    for (let j = i; j < Math.min(i + BATCH, nDocs); j++) {
      docs.push({ _id: `push-${String(j).padStart(6, '0')}`, type: 'bench', n: j, payload: crypto.randomBytes(96).toString('hex') });
    }
    await db.bulkDocs(docs);
  }
}

async function main() {
  if (!['pull', 'push'].includes(mode) || !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost)[:/]/.test(url || '')) {
    throw new Error('usage: node bench_pull.mjs pull|push LOOPBACK_DB_URL [--docs N]');
  }
  const local = new PouchDB(`bench-${crypto.randomBytes(4).toString('hex')}`, { adapter: 'memory' });
  if (mode === 'push') await fill(local);
  const t0 = performance.now();
  const result = mode === 'pull' ? await local.replicate.from(url) : await local.replicate.to(url);
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ mode, docs_written: result.docs_written, seconds }));
}

main().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
