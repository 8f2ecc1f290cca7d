// The documents of the selected database: a paged list from _all_docs, and an editor for one document
// (live JSON validation, save, create with a server uuid, delete), with its conflicts and attachments below.

import { byId, callJson, confirmStep, dbPath, docPath, h, query, reportingTo } from "./dom.js";
import { createAttachmentsSection } from "./attachments.js";
import { createConflictsSection } from "./conflicts.js";

const PAGE_SIZE = 20;

export function createDocumentsPanel(couch, { onChange }) {
  const list = byId("doc-list");
  const editor = byId("doc-editor");
  const error = byId("doc-error");
  const saveButton = byId("save-doc");
  const deleteButton = byId("delete-doc");
  let db = null;
  let page = 0;
  let openDoc = null;

  const conflicts = createConflictsSection(couch, { errorElement: error, onResolved: (id) => reopen(id) });
  const attachments = createAttachmentsSection(couch, { errorElement: error, onChange: (id) => reopen(id) });

  function entry(row) {
    const content = [h("span", { className: "name" }, row.id), h("code", { className: "rev" }, row.value.rev)];
    return h("li", { dataset: { docId: row.id }, className: row.id === openDoc?._id ? "selected" : "",
      onclick: reportingTo(error, () => open(row.id)) }, ...content);
  }

  async function showPage(number) {
    const path = `${dbPath(db)}/_all_docs?${query({ limit: PAGE_SIZE, skip: number * PAGE_SIZE })}`;
    const answer = await callJson(couch, "GET", path);
    if (answer.rows.length === 0 && number > 0) return showPage(number - 1);
    page = number;
    list.replaceChildren(...answer.rows.map(entry));
    const first = page * PAGE_SIZE;
    byId("page-info").textContent = answer.rows.length === 0 ? "no documents"
      : `${first + 1}–${first + answer.rows.length} of ${answer.total_rows}`;
    byId("prev-page").disabled = page === 0;
    byId("next-page").disabled = first + answer.rows.length >= answer.total_rows;
  }

  // Put `doc` in the editor; `_conflicts` is shown in its own section (CouchDB refuses it in a body).
  function load(doc, title = doc?._id) {
    openDoc = doc;
    const { _conflicts, ...body } = doc ?? {};
    editor.value = doc ? JSON.stringify(body, null, 2) : "";
    byId("doc-title").textContent = title ?? "No document open";
    byId("doc-rev").textContent = doc?._rev ?? "";
    byId("delete-doc-confirmation").hidden = true;
    deleteButton.disabled = !doc?._rev;
    for (const item of list.children) item.classList.toggle("selected", item.dataset.docId === doc?._id);
    validate();
    attachments.show(db, doc);
    return conflicts.show(db, doc);
  }

  async function open(id) {
    await load(await callJson(couch, "GET", `${docPath(db, id)}?conflicts=true`));
  }

  async function reopen(id) {
    await open(id);
    await showPage(page);
    onChange();
  }

  // Save is possible only while the editor holds a JSON object; otherwise say why.
  function validate() {
    let problem = "";
    if (editor.value.trim() !== "") {
      try {
        const value = JSON.parse(editor.value);
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          problem = "A document must be a JSON object.";
        }
      } catch (parseError) {
        problem = `Invalid JSON: ${parseError.message}`;
      }
    }
    error.textContent = problem;
    saveButton.disabled = problem !== "" || editor.value.trim() === "";
  }

  async function save() {
    const body = JSON.parse(editor.value);
    const answer = body._id === undefined ? await callJson(couch, "POST", dbPath(db), body)
      : await callJson(couch, "PUT", docPath(db, body._id), body);
    await reopen(answer.id);
  }

  async function newDoc() {
    const { uuids } = await callJson(couch, "GET", "/_uuids");
    await load({ _id: uuids[0] }, "New document");
    editor.focus();
  }

  async function remove() {
    const id = openDoc._id;
    const answer = await callJson(couch, "DELETE", `${docPath(db, id)}?${query({ rev: openDoc._rev })}`);
    await load(null, `${id} (deleted)`);
    byId("doc-rev").textContent = answer.rev;
    await showPage(page);
    onChange();
  }

  editor.addEventListener("input", validate);
  saveButton.addEventListener("click", reportingTo(error, save));
  byId("new-doc").addEventListener("click", reportingTo(error, newDoc));
  byId("prev-page").addEventListener("click", reportingTo(error, () => showPage(page - 1)));
  byId("next-page").addEventListener("click", reportingTo(error, () => showPage(page + 1)));
  confirmStep(deleteButton, byId("delete-doc-confirmation"), byId("confirm-delete-doc"),
    byId("cancel-delete-doc"), reportingTo(error, remove));

  return {
    show: reportingTo(error, async (name) => {
      db = name;
      await load(null);
      if (db !== null) await showPage(0);
    }),
    // Someone else changed the database (a replication): list the documents again.
    refresh: reportingTo(error, async () => {
      if (db !== null) await showPage(page);
    }),
  };
}
