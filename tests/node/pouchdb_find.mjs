// PouchDB 9 with pouchdb-find against a CouchDB-protocol server, for tests/interop/test_pouchdb_find.py.
//
// argv:   a database URL (credentials in it if the server needs them); the database must exist.
// stdout: a JSON object, one member per step, each the step's answer or {"error": name, "status": n}:
//         the documents written, createIndex (new, again, a named and a partial one), getIndexes, find
//         (plain, $gt with a sort by index, fields, limit/skip, a bookmark's next page, $or, $elemMatch,
//         $regex, a sort without an index, a bad operator), explain, deleteIndex and getIndexes after.

import PouchDB from 'pouchdb';
import pouchdbFind from 'pouchdb-find';
import { recorder } from './steps.mjs';

PouchDB.plugin(pouchdbFind);

const db = new PouchDB(process.argv[2], { skip_setup: true });
const { out, step } = recorder();

const docs = [];
for (let n = 0; n < 30; n++) {
  docs.push({ _id: `doc${String(n).padStart(2, '0')}`, n, kind: ['a', 'B', 'c'][n % 3],
              tags: n % 4 === 0 ? ['x', 'y'] : ['z'], nested: { even: n % 2 === 0 } });
}

await step('bulkDocs', async () => (await db.bulkDocs(docs)).map((row) => row.ok));
await step('createIndex', () => db.createIndex({ index: { fields: ['n'] } }));
await step('createIndexAgain', () => db.createIndex({ index: { fields: ['n'] } }));
await step('createNamed', () => db.createIndex({ index: { fields: ['kind', 'n'] }, ddoc: 'by-kind',
                                                 name: 'kind-n' }));
await step('createPartial', () => db.createIndex({ index: { fields: ['n'],
                                                            partial_filter_selector: { 'nested.even': true } },
                                                   ddoc: 'even', name: 'even-n' }));
await step('getIndexes', () => db.getIndexes());
await step('findAll', () => db.find({ selector: {} }));
await step('findGt', () => db.find({ selector: { n: { $gt: 20 } }, sort: ['n'] }));
await step('findDesc', () => db.find({ selector: { n: { $gte: 0 } }, sort: [{ n: 'desc' }], limit: 5 }));
await step('findFields', () => db.find({ selector: { kind: 'B', n: { $lt: 12 } }, fields: ['_id', 'n'] }));
await step('findSkip', () => db.find({ selector: { n: { $gte: 10 } }, sort: ['n'], limit: 3, skip: 2 }));
await step('findPages', async () => {
  const first = await db.find({ selector: { n: { $gte: 5 } }, limit: 4 });
  const second = await db.find({ selector: { n: { $gte: 5 } }, limit: 4, bookmark: first.bookmark });
  return [first.docs.map((d) => d._id), second.docs.map((d) => d._id)];
});
await step('findOr', () => db.find({ selector: { $or: [{ n: 1 }, { kind: 'c', n: { $gt: 25 } }] } }));
await step('findElemMatch', () => db.find({ selector: { tags: { $elemMatch: { $eq: 'y' } } } }));
await step('findRegex', () => db.find({ selector: { kind: { $regex: '^[A-Z]' } }, limit: 3 }));
await step('findUseIndex', () => db.find({ selector: { n: { $gt: 24 } }, use_index: 'even' }));
await step('findSortNoIndex', () => db.find({ selector: { kind: 'a' }, sort: ['kind', 'tags'] }));
await step('findBadOperator', () => db.find({ selector: { n: { $bad: 1 } } }));
await step('explain', () => db.explain({ selector: { kind: 'a', n: { $gt: 3 } } }));
await step('deleteIndex', async () => {
  const indexes = (await db.getIndexes()).indexes;
  return db.deleteIndex(indexes.find((index) => index.name === 'kind-n'));
});
await step('getIndexesAfter', () => db.getIndexes());

process.stdout.write(JSON.stringify(out));
