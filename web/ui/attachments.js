// The open document's attachments: listed from its `_attachments` stubs, fetched as a Blob on the first
// click of their download link (which then points at an object URL), added from a file input (PUT of
// the file's bytes with its Content-Type) and deleted.

import { attachmentPath, byId, callJson, h, query, reportingTo } from "./dom.js";

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function createAttachmentsSection(couch, { errorElement, onChange }) {
  const section = byId("attachments");
  const list = byId("attachment-list");
  const fileInput = byId("attachment-file");
  let db = null;
  let doc = null;
  let objectUrls = [];

  async function download(link, name) {
    const response = await couch.request("GET", attachmentPath(db, doc._id, name));
    if (response.status >= 400) throw new Error(`${name}: ${response.text()}`);
    const url = URL.createObjectURL(new Blob([response.body], { type: response.headers["content-type"] }));
    objectUrls.push(url);
    link.href = url;
    link.click();
  }

  async function remove(name) {
    await callJson(couch, "DELETE", `${attachmentPath(db, doc._id, name)}?${query({ rev: doc._rev })}`);
    await onChange(doc._id);
  }

  async function add() {
    const file = fileInput.files[0];
    if (!file) throw new Error("Choose a file to attach first.");
    const path = `${attachmentPath(db, doc._id, file.name)}?${query({ rev: doc._rev })}`;
    await callJson(couch, "PUT", path, new Uint8Array(await file.arrayBuffer()),
      { "Content-Type": file.type || "application/octet-stream" });
    fileInput.value = "";
    await onChange(doc._id);
  }

  function entry(name, stub) {
    const link = h("a", { className: "download", download: name, href: "#" }, name);
    const fetchFirst = reportingTo(errorElement, () => download(link, name));
    link.addEventListener("click", (event) => {
      if (link.href.startsWith("blob:")) return;
      event.preventDefault();
      fetchFirst();
    });
    const deleteButton = h("button", { className: "delete-attachment",
      onclick: reportingTo(errorElement, () => remove(name)) }, "Delete");
    const details = h("span", { className: "muted" }, `${stub.content_type}, ${formatSize(stub.length)}`);
    return h("li", { dataset: { attachment: name } }, link, details, deleteButton);
  }

  // Show the attachments of `doc`; a document not saved yet (no `_rev`) can have none, so the section hides.
  function show(database, openDoc) {
    db = database;
    doc = openDoc?._rev ? openDoc : null;
    objectUrls.forEach((url) => URL.revokeObjectURL(url));
    objectUrls = [];
    section.hidden = doc === null;
    list.replaceChildren(...Object.entries(doc?._attachments ?? {}).map(([name, stub]) => entry(name, stub)));
  }

  byId("add-attachment").addEventListener("click", reportingTo(errorElement, add));
  return { show };
}
