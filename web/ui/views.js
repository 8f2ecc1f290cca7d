// The view browser, as Fauxton's: pick a view of one of the database's design documents, query it (key
// range, descending, include_docs, reduce and group level) and page through its rows as a table.
//
// Paging is CouchDB's recommended way: a page asks for one row more than it shows, and that row starts the
// next page (its key and id as startkey and startkey_docid). Reduced rows have no id, so they page by skip.
// Previous pages are remembered by what started them. Keys are sent as typed, so a key that is not JSON
// gets CouchDB's own error.

import { byId, callJson, dbPath, describeError, docPath, h, query } from "./dom.js";

const DESIGN_DOCS = { startkey: '"_design/"', endkey: '"_design0"', include_docs: "true" };

export function createViewsPanel(couch) {
  const picker = byId("view-pick");
  const reduce = byId("view-reduce");
  const groupLevel = byId("view-group-level");
  const includeDocs = byId("view-include-docs");
  const rowsTable = byId("view-rows");
  const pageInfo = byId("view-page-info");
  const error = byId("view-error");
  const previous = byId("view-previous");
  const next = byId("view-next");
  let db = null;
  let asked = null; // the view's path and the parameters of the last Run, kept while paging
  let pageStarts = []; // the parameters that started each page up to the one shown
  let nextStart = null;
  let listings = 0;

  // Every view of the database's design documents, grouped by design document, Mango's indexes (language
  // "query") too, as CouchDB answers them as views; views.lib is no view. The chosen view stays chosen
  // if it is still there. Only the latest
  // listing is shown (a database opened again, or a document saved, lists again while one is on its way).
  async function listViews() {
    const listing = ++listings;
    const chosen = picker.value;
    const { rows } = await callJson(couch, "GET", `${dbPath(db)}/_all_docs?${query(DESIGN_DOCS)}`);
    if (listing !== listings) return;
    const groups = rows.filter(({ doc }) => doc.views).map(({ id, doc }) =>
      h("optgroup", { label: id }, ...Object.entries(doc.views).filter(([, view]) => view.map).map(([name, view]) =>
        h("option", { value: `${id}/${name}`, dataset: { ddoc: id, view: name, reduces: Boolean(view.reduce) } },
          name))));
    picker.replaceChildren(...groups.length ? groups : [h("option", { value: "" }, "(no design document has views)")]);
    if ([...picker.options].some((option) => option.value === chosen)) picker.value = chosen;
    byId("view-run").disabled = groups.length === 0;
    showReduceFields();
  }

  const chosenView = () => picker.selectedOptions[0]?.dataset;
  const hasReduce = () => chosenView()?.reduces === "true";
  const reduces = () => hasReduce() && reduce.checked;
  const pageSize = () => Math.max(1, Number(byId("view-limit").value) || 20);

  function showReduceFields() {
    for (const label of document.querySelectorAll(".for-reduce")) label.hidden = !hasReduce();
    groupLevel.disabled = !reduces();
    includeDocs.disabled = reduces();
  }

  // The query string of a Run; empty fields are left out.
  function parameters() {
    const value = (id) => byId(id).value.trim();
    const chosen = {};
    if (value("view-startkey") !== "") chosen.startkey = value("view-startkey");
    if (value("view-endkey") !== "") chosen.endkey = value("view-endkey");
    if (byId("view-descending").checked) chosen.descending = "true";
    if (reduces()) {
      if (groupLevel.value === "exact") chosen.group = "true";
      else if (groupLevel.value !== "none") chosen.group_level = groupLevel.value;
    } else {
      if (hasReduce()) chosen.reduce = "false";
      if (includeDocs.checked) chosen.include_docs = "true";
    }
    return chosen;
  }

  async function showPage() {
    const start = pageStarts.at(-1);
    const limit = asked.limit;
    error.textContent = "";
    next.disabled = true;
    previous.disabled = true;
    let answer;
    try {
      const path = `${asked.path}?${query({ ...asked.parameters, ...start, limit: limit + 1 })}`;
      answer = await callJson(couch, "GET", path);
    } catch (failure) {
      error.textContent = describeError(failure);
      rowsTable.replaceChildren();
      pageInfo.textContent = "";
      return;
    }
    const rows = answer.rows.slice(0, limit);
    const following = answer.rows[limit];
    if (following === undefined) nextStart = null;
    else if (following.id === undefined) nextStart = { skip: (start.skip ?? 0) + limit };
    else nextStart = { startkey: JSON.stringify(following.key), startkey_docid: following.id };
    showRows(rows, asked.parameters.include_docs === "true");
    const skipped = (pageStarts.length - 1) * limit;
    const range = rows.length ? `rows ${skipped + 1}–${skipped + rows.length}` : "no rows";
    pageInfo.textContent = answer.total_rows === undefined ? range
      : `${range} · offset ${answer.offset} · total_rows ${answer.total_rows}`;
    next.disabled = nextStart === null;
    previous.disabled = pageStarts.length === 1;
  }

  function showRows(rows, withDocs) {
    const cell = (value) => h("td", {}, h("code", {}, value === undefined ? "" : JSON.stringify(value)));
    const columns = ["key", "value", "id", withDocs && "doc"].filter(Boolean);
    rowsTable.replaceChildren(
      h("thead", {}, h("tr", {}, ...columns.map((column) => h("th", {}, column)))),
      h("tbody", {}, ...rows.map((row) => h("tr", {}, cell(row.key), cell(row.value),
        h("td", {}, row.id ?? ""), withDocs && cell(row.doc)))));
  }

  function run(event) {
    event.preventDefault();
    const { ddoc, view } = chosenView();
    asked = {
      path: `${docPath(db, ddoc)}/_view/${encodeURIComponent(view)}`, parameters: parameters(), limit: pageSize(),
    };
    pageStarts = [{}];
    return showPage();
  }

  function clear() {
    asked = null;
    rowsTable.replaceChildren();
    pageInfo.textContent = "";
    error.textContent = "";
    next.disabled = true;
    previous.disabled = true;
  }

  byId("view-form").addEventListener("submit", run);
  picker.addEventListener("change", () => {
    showReduceFields();
    clear();
  });
  reduce.addEventListener("change", showReduceFields);
  next.addEventListener("click", () => {
    pageStarts.push(nextStart);
    showPage();
  });
  previous.addEventListener("click", () => {
    pageStarts.pop();
    showPage();
  });

  const refresh = () => listViews().catch((failure) => { error.textContent = describeError(failure); });

  return {
    show(name) {
      db = name;
      clear();
      picker.replaceChildren();
      return refresh();
    },
    refresh,
  };
}
