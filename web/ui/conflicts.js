// The conflicts of the open document: its winning revision and each conflicting leaf (loaded with ?rev=),
// each with a "Keep this revision" button. Keeping one deletes every other leaf in one _bulk_docs, as
// Fauxton does, so the kept leaf is the only live one left and wins.

import { byId, callJson, CouchError, dbPath, docPath, h, query, reportingTo } from "./dom.js";

export function createConflictsSection(couch, { errorElement, onResolved }) {
  const section = byId("conflicts");
  const list = byId("conflict-list");
  let shown = null;

  async function keep(db, id, rev, leaves) {
    const docs = leaves.filter((leaf) => leaf !== rev).map((leaf) => ({ _id: id, _rev: leaf, _deleted: true }));
    const results = await callJson(couch, "POST", `${dbPath(db)}/_bulk_docs`, { docs });
    const failure = results.find((result) => result.error);
    if (failure) throw new CouchError(409, failure.error, failure.reason);
    await onResolved(id);
  }

  function entry(db, leaf, leaves) {
    const { _id, _rev, _conflicts, ...content } = leaf.body;
    const keepButton = h("button", { className: "keep-rev",
      onclick: reportingTo(errorElement, () => keep(db, _id, leaf.rev, leaves)) }, "Keep this revision");
    const heading = h("div", { className: "toolbar" }, h("code", {}, leaf.rev),
      leaf.rev === leaves[0] && h("span", { className: "badge" }, "winner"), keepButton);
    return h("li", { dataset: { conflictRev: leaf.rev } }, heading, h("pre", {}, JSON.stringify(content, null, 2)));
  }

  // Show the conflicts of `doc` (null or a document without `_conflicts` hides the section).
  async function show(db, doc) {
    shown = doc;
    const leaves = doc?._conflicts?.length ? [doc._rev, ...doc._conflicts] : [];
    const bodies = await Promise.all(leaves.map((rev) => rev === doc._rev ? doc
      : callJson(couch, "GET", `${docPath(db, doc._id)}?${query({ rev })}`)));
    if (shown !== doc) return;
    list.replaceChildren(...leaves.map((rev, index) => entry(db, { rev, body: bodies[index] }, leaves)));
    section.hidden = leaves.length === 0;
  }

  return { show };
}
