// The PouchDB side of bench/bench_web.py's pull: a remote database into a fresh local PouchDB.
//
//   await window.pouchPull(adapter, remoteUrl, name) -> {ms, docs_written, doc_count, adapter}
//
// `adapter` is "idb" (PouchDB's classic IndexedDB adapter, built into pouchdb.min.js) or "indexeddb"
// (the newer one, from the pouchdb.indexeddb.min.js plugin). `ms` covers opening the database and the
// replication with PouchDB's default options (batches of 100); the database is destroyed afterwards.

/* global PouchDB -- loaded by the page's <script> tags */

window.pouchPull = async (adapter, remoteUrl, name) => {
  const started = performance.now();
  const db = new PouchDB(name, { adapter });
  try {
    const result = await PouchDB.replicate(remoteUrl, db);
    const ms = performance.now() - started;
    const info = await db.info();
    return { ms, docs_written: result.docs_written, doc_count: info.doc_count, adapter: db.adapter };
  } finally {
    await db.destroy();
  }
};
