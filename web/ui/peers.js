// The Peers view: other browsers and servers to sync with, each with its state. Pick one, log in,
// choose the databases and a direction (pull, push, sync), one-shot or live.
//
// A sync is one `_replicator` document per direction in this browser's couch, so live syncs survive
// browser restarts and resume from their checkpoints (the tab's scheduler runs them). Every POLL_MS the
// view reads them back (`_replicator/_all_docs`) with their jobs' state, progress and error
// (`_scheduler/docs`). Documents the view made carry `peer: {key, name}`; others are left alone.
//
// Peers come from sources, each `{label, async list() -> {peers: [PEER], note?}}`, PEER being
// `{key, name, url, kind, auth, state}` (`url`: the peer's base URL, or null while it has none). Here:
// `lanPeers()`, what the extension's bridge finds on the LAN (DNS-SD; background.js's status `peers`),
// and `urlPeers()`, peers added by URL (kept in localStorage). Another transport adds its own source.

import { callJson, describeError, h, query } from "./dom.js";

const POLL_MS = 1000;
const URL_PEERS_KEY = "browsercouch.peers";
const ARROWS = { pull: "←", push: "→" };

const base64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
const slug = (text) => String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

// What the extension's bridge finds on the LAN; null outside the extension (a plain page has no bridge).
export function lanPeers() {
  if (!globalThis.chrome?.runtime?.id) return null;
  return {
    label: "on the LAN",
    async list() {
      const status = await chrome.runtime.sendMessage({ type: "status" });
      const note = status.lan ? null
        : "This browser serves this computer only: LAN discovery is off (serve the LAN to find and be found).";
      const peers = (status.peers ?? []).map((peer) => ({ key: peer.uuid ?? peer.instance, name: peer.name,
        url: peer.url, kind: peer.kind, auth: peer.auth, state: "on the LAN" }));
      return { peers, note };
    },
  };
}

// Peers typed in by URL, kept in this page's localStorage.
export function urlPeers() {
  const load = () => JSON.parse(localStorage.getItem(URL_PEERS_KEY) ?? "[]");
  return {
    label: "added by URL",
    async list() {
      return { peers: load().map((url) => ({ key: url, name: new URL(url).host, url, kind: "url", auth: true,
        state: "added by URL" })) };
    },
    add(text) {
      const url = new URL(text);
      if (!url.protocol.startsWith("http")) throw new Error("A peer's URL starts with http:// or https://");
      const base = `${url.origin}/`;
      localStorage.setItem(URL_PEERS_KEY, JSON.stringify([...new Set([...load(), base])]));
    },
  };
}

// The `_replicator` documents of one choice: [{_id, doc}] for each direction.
function syncDocs(peer, { user, password, localDb, remoteDb, direction, live }) {
  const url = new URL(encodeURIComponent(remoteDb), peer.url).href;
  const remote = user ? { url, headers: { Authorization: `Basic ${base64(`${user}:${password}`)}` } } : url;
  const legs = direction === "sync" ? ["push", "pull"] : [direction];
  return legs.map((leg) => ({
    _id: `peer-${slug(peer.key)}-${slug(localDb)}-${slug(remoteDb)}-${leg}`,
    source: leg === "push" ? localDb : remote, target: leg === "push" ? remote : localDb,
    create_target: true, continuous: live, peer: { key: peer.key, name: peer.name, remote_db: remoteDb, leg },
  }));
}

// `onChange()` is called when a sync wrote documents here or elsewhere (the databases' counts changed).
export function createPeersPanel(couch, root, { sources = [urlPeers()], onChange = () => {} } = {}) {
  const adder = sources.find((source) => source.add);
  const list = h("ul", { className: "peer-list" });
  const notes = h("p", { className: "muted peer-notes" });
  const error = h("p", { className: "error" });
  const syncs = h("ul", { className: "sync-list" });
  const form = h("form", { className: "peer-form fields", hidden: true });
  let chosen = null;
  let peers = [];
  let docs = [];
  let written = 0;

  const field = (label, input) => h("label", {}, label, input);
  const inputs = {
    user: h("input", { id: "peer-user", autocomplete: "off", value: "admin" }),
    password: h("input", { id: "peer-password", type: "password", autocomplete: "off" }),
    localDb: h("input", { id: "peer-local-db", autocomplete: "off", required: true }),
    localDbs: h("datalist", { id: "peer-local-dbs" }),
    remoteDb: h("input", { id: "peer-remote-db", autocomplete: "off", placeholder: "same name" }),
    direction: h("select", { id: "peer-direction" }, ...["sync", "pull", "push"].map((value) =>
      h("option", { value }, { sync: "sync (both ways)", pull: "pull (peer → here)", push: "push (here → peer)" }[value]))),
    live: h("input", { id: "peer-live", type: "checkbox", checked: true }),
  };
  inputs.localDb.setAttribute("list", inputs.localDbs.id);
  const title = h("strong", { className: "peer-chosen" });
  form.append(title, field("User", inputs.user), field("Password", inputs.password),
    field("Database here", inputs.localDb), inputs.localDbs, field("Database there", inputs.remoteDb),
    field("Direction", inputs.direction), h("label", { className: "check" }, inputs.live, " live (keeps syncing)"),
    h("button", { id: "peer-start", type: "submit", className: "primary" }, "Start"));

  const urlInput = h("input", { id: "peer-url", inputMode: "url", placeholder: "http://192.168.1.20:61984/" });
  const addForm = h("form", { className: "inline-form peer-add" }, urlInput,
    h("button", { id: "peer-add", type: "submit" }, "Add peer"));
  root.replaceChildren(h("h3", {}, "Peers"), notes, list, adder ? addForm : null, form, error,
    h("h4", {}, "Syncs"), syncs);

  function peerState(peer) {
    const mine = docs.filter((row) => row.doc.peer?.key === peer.key);
    const states = new Set(mine.map((row) => row.job?.state ?? "starting"));
    if (["crashing", "failed", "error"].some((state) => states.has(state))) return "sync error";
    if (states.has("running") || states.has("pending") || states.has("starting")) return "syncing";
    if (states.has("completed")) return "synced";
    return peer.state;
  }

  function showPeers() {
    list.replaceChildren(...peers.map((peer) => h("li", { dataset: { key: peer.key, name: peer.name,
      state: peerState(peer) }, className: chosen?.key === peer.key ? "chosen" : "" },
    h("span", { className: "badge" }, peer.kind), h("span", { className: "peer-name" }, peer.name),
    h("span", { className: "muted" }, peer.url ?? ""), h("span", { className: "peer-state" }, peerState(peer)),
    h("button", { type: "button", disabled: !peer.url, onclick: () => choose(peer) }, "Sync…"))));
    if (peers.length === 0) list.append(h("li", { className: "muted" }, "No peers yet."));
  }

  function showSyncs() {
    syncs.replaceChildren(...docs.map(({ doc, job }) => {
      const info = job?.info ?? {};
      const { leg } = doc.peer;
      return h("li", { dataset: { id: doc._id, state: job?.state ?? "starting" } },
        h("span", { className: "badge" }, job?.state ?? "starting"),
        h("span", {}, `${doc.peer.name}: ${leg} ${doc.peer.remote_db} ${ARROWS[leg]} `
          + `${leg === "push" ? doc.source : doc.target}${doc.continuous ? " (live)" : ""}`),
        h("span", { className: "written" }, `${info.docs_written ?? 0} written, ${info.changes_pending ?? "?"} pending`),
        info.error ? h("span", { className: "error" }, String(info.error)) : null,
        h("button", { type: "button", onclick: () => remove(doc).catch(show) }, "Remove"));
    }));
    if (docs.length === 0) syncs.append(h("li", { className: "muted" }, "No syncs yet."));
  }

  function show(failure) {
    error.textContent = failure ? describeError(failure) : "";
  }

  function choose(peer) {
    chosen = peer;
    title.textContent = `Sync with ${peer.name} (${peer.url})`;
    inputs.user.parentElement.hidden = inputs.password.parentElement.hidden = !peer.auth;
    form.hidden = false;
    showPeers();
  }

  async function refresh() {
    const listed = await Promise.all(sources.map((source) => source.list().catch((failure) =>
      ({ peers: [], note: `${source.label}: ${describeError(failure)}` }))));
    peers = listed.flatMap((found) => found.peers);
    notes.textContent = listed.map((found) => found.note).filter(Boolean).join(" ");
    const all = await callJson(couch, "GET", `/_replicator/_all_docs?${query({ include_docs: true })}`)
      .catch(() => ({ rows: [] }));
    const jobs = await callJson(couch, "GET", "/_scheduler/docs").catch(() => ({ docs: [] }));
    const names = await callJson(couch, "GET", "/_all_dbs").catch(() => []);
    inputs.localDbs.replaceChildren(...names.filter((name) => !name.startsWith("_"))
      .map((name) => h("option", { value: name })));
    const byId = new Map(jobs.docs.map((job) => [job.doc_id, job]));
    docs = all.rows.filter((row) => row.doc?.peer).map((row) => ({ doc: row.doc, job: byId.get(row.id) }));
    const total = docs.reduce((sum, { job }) => sum + (job?.info?.docs_written ?? 0), 0);
    if (total !== written) onChange();
    written = total;
    showPeers();
    showSyncs();
  }

  async function start(event) {
    event.preventDefault();
    const choice = { user: inputs.user.value, password: inputs.password.value, localDb: inputs.localDb.value.trim(),
      remoteDb: inputs.remoteDb.value.trim() || inputs.localDb.value.trim(), direction: inputs.direction.value,
      live: inputs.live.checked };
    if (!chosen.auth) choice.user = "";
    // CouchDB makes _replicator when it starts; here it is made when first needed.
    await callJson(couch, "PUT", "/_replicator").catch((failure) => {
      if (failure.status !== 412) throw failure;
    });
    for (const { _id, ...doc } of syncDocs(chosen, choice)) {
      const path = `/_replicator/${encodeURIComponent(_id)}`;
      const old = await callJson(couch, "GET", path).catch(() => null);
      await callJson(couch, "PUT", path, old ? { ...doc, _rev: old._rev } : doc);
    }
    await refresh();
  }

  async function remove(doc) {
    await callJson(couch, "DELETE", `/_replicator/${encodeURIComponent(doc._id)}?rev=${doc._rev}`);
    await refresh();
  }

  const reporting = (action) => (event) => {
    show(null);
    action(event).catch(show);
  };
  form.addEventListener("submit", reporting(start));
  addForm.addEventListener("submit", reporting(async (event) => {
    event.preventDefault();
    adder.add(urlInput.value.trim());
    urlInput.value = "";
    await refresh();
  }));
  const tick = () => refresh().catch(show).finally(() => setTimeout(tick, POLL_MS));
  tick();
  return { refresh };
}
