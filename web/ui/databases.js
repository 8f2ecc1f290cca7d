// The sidebar of databases (GET /_all_dbs, each with its doc count from GET /db), the form that creates
// one, and the selected database's header with its in-page delete confirmation.

import { byId, callJson, confirmStep, dbPath, h, reportingTo } from "./dom.js";

export function createDatabasesPanel(couch, { onSelect }) {
  const list = byId("db-list");
  const nameInput = byId("new-db-name");
  const error = byId("db-error");
  let selected = null;
  let infos = new Map();
  // Each database keeps its <li> across refreshes, so whoever holds the element can still click it.
  const items = new Map();

  function showInfo() {
    const info = infos.get(selected);
    const documents = info?.doc_count === 1 ? "1 document" : `${info?.doc_count} documents`;
    byId("db-info").textContent = info ? `${documents}, ${info.doc_del_count} deleted` : "";
  }

  function select(db) {
    selected = db;
    for (const item of list.children) item.classList.toggle("selected", item.dataset.db === db);
    byId("db-title").textContent = db ?? "";
    byId("delete-db-confirmation").hidden = true;
    showInfo();
    onSelect(db);
  }

  // Each database keeps its <li> across refreshes, so whoever holds the element can still click it.
  function entry(name, info) {
    if (!items.has(name)) {
      const open = reportingTo(error, () => {
        select(name);
        return refresh();
      });
      items.set(name, h("li", { title: name, dataset: { db: name }, onclick: open }));
    }
    const item = items.get(name);
    item.classList.toggle("selected", name === selected);
    item.replaceChildren(h("span", { className: "name" }, name),
      h("span", { className: "count" }, info ? String(info.doc_count) : "?"));
    return item;
  }

  async function refresh() {
    const names = await callJson(couch, "GET", "/_all_dbs");
    const answers = await Promise.all(names.map((name) => callJson(couch, "GET", dbPath(name)).catch(() => null)));
    infos = new Map(names.map((name, index) => [name, answers[index]]));
    for (const name of items.keys()) if (!infos.has(name)) items.delete(name);
    list.replaceChildren(...names.map((name) => entry(name, infos.get(name))));
    if (selected !== null && !infos.has(selected)) select(null);
    showInfo();
  }

  byId("create-db-form").addEventListener("submit", reportingTo(error, async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) throw new Error("Enter a name for the new database.");
    await callJson(couch, "PUT", dbPath(name));
    nameInput.value = "";
    await refresh();
    select(name);
  }));

  confirmStep(byId("delete-db"), byId("delete-db-confirmation"), byId("confirm-delete-db"),
    byId("cancel-delete-db"), reportingTo(error, async () => {
      await callJson(couch, "DELETE", dbPath(selected));
      select(null);
      await refresh();
    }));

  return { refresh };
}
