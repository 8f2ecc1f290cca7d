// A small query form over the selected database: _all_docs (start and end id, include_docs, limit,
// descending) or _changes (since, include_docs, limit, descending), its JSON answer shown as it came.

import { byId, callJson, dbPath, describeError, query } from "./dom.js";

export function createQueriesPanel(couch) {
  const kind = byId("query-kind");
  const result = byId("query-result");
  let db = null;

  // The query string for the chosen endpoint; empty fields are left out. Keys of _all_docs are ids,
  // so what is typed is sent as a JSON string.
  function parameters() {
    const chosen = {};
    const value = (id) => byId(id).value.trim();
    if (value("query-limit") !== "") chosen.limit = value("query-limit");
    if (byId("query-include-docs").checked) chosen.include_docs = "true";
    if (byId("query-descending").checked) chosen.descending = "true";
    if (kind.value === "all_docs") {
      if (value("query-startkey") !== "") chosen.startkey = JSON.stringify(value("query-startkey"));
      if (value("query-endkey") !== "") chosen.endkey = JSON.stringify(value("query-endkey"));
    } else if (value("query-since") !== "") {
      chosen.since = value("query-since");
    }
    return chosen;
  }

  async function run(event) {
    event.preventDefault();
    const path = `${dbPath(db)}/_${kind.value}?${query(parameters())}`;
    result.classList.remove("error");
    result.textContent = `GET ${path} …`;
    try {
      result.textContent = JSON.stringify(await callJson(couch, "GET", path), null, 2);
    } catch (error) {
      result.textContent = describeError(error);
      result.classList.add("error");
    }
  }

  function showFieldsOfKind() {
    for (const label of document.querySelectorAll(".for-all_docs")) label.hidden = kind.value !== "all_docs";
    for (const label of document.querySelectorAll(".for-changes")) label.hidden = kind.value !== "changes";
  }

  kind.addEventListener("change", showFieldsOfKind);
  byId("query-form").addEventListener("submit", run);
  showFieldsOfKind();

  return {
    show(name) {
      db = name;
      result.textContent = "";
    },
  };
}
