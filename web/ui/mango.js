// The Mango panel, as Fauxton's: a `_find` query editor with its `_explain`, paged by bookmark, and the
// database's indexes (GET, POST and DELETE `_index`).

import { byId, callJson, dbPath, describeError, h, reportingTo } from "./dom.js";

const DEFAULT_QUERY = '{\n  "selector": {},\n  "limit": 25\n}';

export function createMangoPanel(couch) {
  const editor = byId("mango-query");
  const result = byId("mango-result");
  const next = byId("mango-next");
  const indexList = byId("index-list");
  const indexError = byId("index-error");
  let db = null;
  let bookmark = null;

  // POST `body` to the database's `endpoint` and show the answer, or the error, as it came.
  async function post(endpoint, extra = {}) {
    result.classList.remove("error");
    try {
      const body = { ...JSON.parse(editor.value), ...extra };
      result.textContent = `POST ${dbPath(db)}/${endpoint} …`;
      const answer = await callJson(couch, "POST", `${dbPath(db)}/${endpoint}`, body);
      result.textContent = JSON.stringify(answer, null, 2);
      return answer;
    } catch (error) {
      result.textContent = describeError(error);
      result.classList.add("error");
      return null;
    }
  }

  async function find(extra) {
    const answer = await post("_find", extra);
    bookmark = answer?.bookmark ?? null;
    next.disabled = !answer?.docs?.length || !bookmark;
  }

  async function listIndexes() {
    const { indexes } = await callJson(couch, "GET", `${dbPath(db)}/_index`);
    indexList.replaceChildren(...indexes.map((index) => h("li", { dataset: { index: index.name } },
      h("code", {}, index.name), ` ${index.type} `, h("code", {}, JSON.stringify(index.def.fields)),
      index.def.partial_filter_selector ? " (partial)" : null,
      index.ddoc === null ? null : h("button", {
        className: "danger-outline", dataset: { deleteIndex: index.name },
        onclick: reportingTo(indexError, () => deleteIndex(index)),
      }, "Delete"))));
  }

  async function deleteIndex(index) {
    const ddoc = index.ddoc.replace(/^_design\//, "");
    const path = `${dbPath(db)}/_index/_design/${encodeURIComponent(ddoc)}/json/${encodeURIComponent(index.name)}`;
    await callJson(couch, "DELETE", path);
    await listIndexes();
  }

  async function createIndex() {
    const value = (id) => byId(id).value.trim();
    const fields = value("index-fields").split(",").map((field) => field.trim()).filter(Boolean);
    const body = { index: { fields } };
    if (value("index-partial")) body.index.partial_filter_selector = JSON.parse(value("index-partial"));
    if (value("index-name")) body.name = value("index-name");
    if (value("index-ddoc")) body.ddoc = value("index-ddoc");
    await callJson(couch, "POST", `${dbPath(db)}/_index`, body);
    await listIndexes();
  }

  byId("mango-form").addEventListener("submit", (event) => {
    event.preventDefault();
    find();
  });
  byId("mango-explain").addEventListener("click", () => {
    next.disabled = true;
    post("_explain");
  });
  next.addEventListener("click", () => find({ bookmark }));
  byId("index-form").addEventListener("submit", reportingTo(indexError, (event) => {
    event.preventDefault();
    return createIndex();
  }));

  return {
    show(name) {
      db = name;
      bookmark = null;
      next.disabled = true;
      editor.value = DEFAULT_QUERY;
      result.textContent = "";
      indexError.textContent = "";
      reportingTo(indexError, listIndexes)();
    },
  };
}
