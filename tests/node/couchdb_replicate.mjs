// PouchDB's replicator (npm pouchdb-node, in Node) run as a client between two databases on
// CouchDB-compatible servers: neither end is a PouchDB of its own, so every byte goes through both
// servers' HTTP APIs.
//
//   node couchdb_replicate.mjs SOURCE_URL TARGET_URL        one-shot SOURCE -> TARGET
//   node couchdb_replicate.mjs A_URL B_URL --live           live A -> B and B -> A until stdin closes
//
// URLs may carry user:password. One-shot prints one JSON line, the replication's result
// ({ok, docs_read, docs_written, doc_write_failures, errors}); exit 0 when it completed without errors.
// Live prints a JSON line {"event": "paused", "direction": "a_to_b"|"b_to_a"} each time a replication
// has caught up (and "error" lines); once stdin closes it cancels both and prints
// {"event": "done", "ok": ..., "errors": [...], "docs_written": {...}}. Exit 0: no errors; 2: error;
// 3: timed out.
import PouchDB from 'pouchdb-node';

const TIMEOUT_MS = 240_000;
const [source, target] = process.argv.slice(2, 4);
const live = process.argv.includes('--live');
const print = (line) => console.log(JSON.stringify(line));
setTimeout(() => { print({ event: 'done', ok: false, error: 'timed out' }); process.exit(3); }, TIMEOUT_MS).unref();

function checkUrl(url) {
  if (!/^http:\/\/([^@/]+@)?(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\/[^/]+$/.test(url || '')) {
    throw new Error(`usage: SOURCE_URL TARGET_URL [--live] (databases on loopback servers); got ${url}`);
  }
  return new PouchDB(url, { skip_setup: true });
}

async function oneShot(a, b) {
  const result = await a.replicate.to(b);
  const { ok, docs_read, docs_written, doc_write_failures, errors } = result;
  print({ ok, docs_read, docs_written, doc_write_failures, errors: errors.map(String) });
  return ok && !errors.length && !doc_write_failures;
}

async function liveBothWays(a, b) {
  const errors = [];
  const written = { a_to_b: 0, b_to_a: 0 };
  const follow = (from, to, direction) => {
    const rep = from.replicate.to(to, { live: true, retry: false });
    rep.on('paused', (err) => print(err ? { event: 'error', direction, error: String(err) }
      : { event: 'paused', direction }));
    rep.on('change', (info) => { written[direction] = info.docs_written; });
    rep.on('error', (err) => { errors.push(`${direction}: ${err}`); print({ event: 'error', direction, error: String(err) }); });
    rep.on('denied', (err) => errors.push(`${direction} denied: ${JSON.stringify(err)}`));
    return rep;
  };
  const reps = [follow(a, b, 'a_to_b'), follow(b, a, 'b_to_a')];
  await new Promise((resolve) => { process.stdin.on('end', resolve); process.stdin.resume(); });
  for (const rep of reps) rep.cancel();
  await Promise.all(reps.map((rep) => rep.catch(() => null)));
  print({ event: 'done', ok: errors.length === 0, errors, docs_written: written });
  return errors.length === 0;
}

async function main() {
  const [a, b] = [checkUrl(source), checkUrl(target)];
  process.exit((live ? await liveBothWays(a, b) : await oneShot(a, b)) ? 0 : 1);
}

main().catch((err) => { print({ event: 'done', ok: false, error: String(err && err.stack || err) }); process.exit(2); });
