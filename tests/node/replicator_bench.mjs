// Time one PouchDB (npm pouchdb-node 9, whose default adapter is leveldb) replication, for
// bench/bench_replicate.py.
//
//   node replicator_bench.mjs SOURCE TARGET [--seed-from URL]
//
// SOURCE and TARGET are loopback database URLs, or `leveldb:DIR` for a local PouchDB in directory DIR.
// With --seed-from, SOURCE (a leveldb one) is first filled from URL, untimed. Only the replication is
// timed, with PouchDB's default options (batch_size 100, batches_limit 10), as real clients use them.
// Prints one JSON line: {docs_written, seconds}.
import PouchDB from 'pouchdb-node';

const LOOPBACK = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\//;
const [source, target] = process.argv.slice(2);
const seedAt = process.argv.indexOf('--seed-from');
const seedFrom = seedAt > 0 ? process.argv[seedAt + 1] : null;

function open(spec) {
  if (spec && spec.startsWith('leveldb:')) return new PouchDB(spec.slice('leveldb:'.length));
  if (!LOOPBACK.test(spec || '')) throw new Error(`not a loopback URL or leveldb:DIR: ${spec}`);
  return new PouchDB(spec);
}

async function main() {
  const src = open(source);
  const tgt = open(target);
  if (seedFrom) await src.replicate.from(open(seedFrom));
  const t0 = performance.now();
  const result = await PouchDB.replicate(src, tgt);
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ docs_written: result.docs_written, seconds }));
}

main().catch((err) => { console.error(String((err && err.stack) || err)); process.exit(1); });
