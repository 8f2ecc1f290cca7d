// PouchDB 9's db.query() (map/reduce views) against a CouchDB-protocol server, for
// tests/interop/test_pouchdb_query.py.
//
// argv:   a database URL (credentials in it if the server needs them); the database must exist.
// stdout: a JSON object, one member per step, each the step's answer or {"error": name, "status": n}:
//         the documents and a design document written, then queries of its views (keys, ranges,
//         descending, limit/skip, include_docs, group and group_level, every built-in reduce and a
//         JavaScript one, reduce=false), a missing view, and a write its validate_doc_update refuses.

import PouchDB from 'pouchdb';
import { recorder } from './steps.mjs';

const db = new PouchDB(process.argv[2], { skip_setup: true });
const { out, step } = recorder();

const docs = [];
for (let n = 0; n < 30; n++) {
  docs.push({ _id: `doc${String(n).padStart(2, '0')}`, n, kind: ['a', 'B', 'c'][n % 3],
              tags: n % 4 === 0 ? ['x', 'y'] : ['z'] });
}
const ddoc = {
  _id: '_design/q',
  views: {
    by_kind: { map: 'function (doc) { if (doc.kind) emit([doc.kind, doc.n], doc.n); }', reduce: '_sum' },
    by_n: { map: 'function (doc) { if (doc.n !== undefined) emit(doc.n, doc.kind); }', reduce: '_count' },
    stats: { map: 'function (doc) { if (doc.kind) emit(doc.kind, doc.n); }', reduce: '_stats' },
    tags: { map: 'function (doc) { (doc.tags || []).forEach(function (t) { emit(t, 1); }); }',
            reduce: 'function (keys, values, rereduce) { return sum(values); }' },
  },
  validate_doc_update: 'function (newDoc) { if (newDoc.n < 0) throw({forbidden: "n must not be negative"}); }',
};

await step('bulkDocs', async () => (await db.bulkDocs(docs)).map((row) => row.ok));
await step('putDesign', async () => (await db.put(ddoc)).ok);
await step('mapAll', () => db.query('q/by_n', { reduce: false }));
await step('mapKey', () => db.query('q/by_n', { key: 7, reduce: false, include_docs: true }));
await step('mapKeys', () => db.query('q/by_n', { keys: [3, 1, 99], reduce: false }));
await step('mapRange', () => db.query('q/by_n', { startkey: 20, endkey: 10, descending: true, reduce: false,
                                                  limit: 4, skip: 1 }));
await step('reduceAll', () => db.query('q/by_n'));
await step('groupLevel', () => db.query('q/by_kind', { group_level: 1 }));
await step('group', () => db.query('q/by_kind', { group: true, limit: 5 }));
await step('stats', () => db.query('q/stats', { group: true }));
await step('custom', () => db.query('q/tags', { group: true }));
await step('missingView', () => db.query('q/nope'));
await step('validate', () => db.put({ _id: 'neg', n: -1 }));
process.stdout.write(JSON.stringify(out));
