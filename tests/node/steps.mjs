// The step recorder of the PouchDB scripts that compare browsercouch's answers with CouchDB's
// (pouchdb_find.mjs, pouchdb_query.mjs): each named step's answer, or its error as PouchDB reports it.

export function recorder() {
  const out = {};
  async function step(name, fn) {
    try {
      out[name] = await fn();
    } catch (err) {
      out[name] = { error: err.error || err.name, status: err.status, reason: err.reason || err.message };
    }
  }
  return { out, step };
}
