// The browsercouch web app: a Fauxton-like database browser and a replication panel over one `couch`
// (see couch.js). By default browsercouch runs in this tab, and pairs with other browsers over WebRTC
// (webrtc.js); `?remote=http://host:port` browses that CouchDB instead. Once ready,
// `window.browsercouch = {couch, peers}` (tests and benchmarks drive it; `peers` only in this tab).

import { HttpCouch, startTabCouch } from "./couch.js";
import { byId, callJson, describeError } from "./ui/dom.js";
import { createDatabasesPanel } from "./ui/databases.js";
import { createDocumentsPanel } from "./ui/documents.js";
import { createMangoPanel } from "./ui/mango.js";
import { createPeersPanel, lanPeers, urlPeers } from "./ui/peers.js";
import { createQueriesPanel } from "./ui/queries.js";
import { createReplicationPanel } from "./ui/replication.js";
import { createViewsPanel } from "./ui/views.js";
import { createWebrtcPanel, webrtcPeers } from "./ui/webrtc.js";
import { PeerLinks } from "./webrtc.js";

const status = byId("status");
const loadProgress = byId("load-progress");

async function connect() {
  const remote = new URLSearchParams(location.search).get("remote");
  if (remote) {
    const couch = new HttpCouch(remote);
    await callJson(couch, "GET", "/").catch((error) => {
      throw new Error(`cannot reach ${remote} (${describeError(error)})${corsHint()}`);
    });
    return couch;
  }
  return startTabCouch({
    onProgress: ({ stage, percent }) => {
      loadProgress.value = percent;
      status.textContent = stage;
    },
  });
}

// A web page reaches only CouchDBs that allow its origin by CORS; the extension's pages reach any (its
// host permissions), so they need no hint.
function corsHint() {
  if (!location.protocol.startsWith("http")) return "";
  return `: is it up, and does it allow this page's origin ${location.origin} by CORS? (browsercouch serve `
    + `--cors ${location.origin}, or CouchDB's [cors] origins)`;
}

function startApp(couch, links) {
  const views = createViewsPanel(couch);
  const documents = createDocumentsPanel(couch, {
    onChange: () => {
      views.refresh();
      databases.refresh();
    },
  });
  const replication = createReplicationPanel(couch, {
    onChange: () => {
      documents.refresh();
      views.refresh();
      databases.refresh();
    },
  });
  const panels = [documents, views, createQueriesPanel(couch), createMangoPanel(couch), replication];
  const databases = createDatabasesPanel(couch, {
    onSelect: (db) => {
      byId("no-db").hidden = db !== null;
      byId("db-panel").hidden = db === null;
      for (const panel of panels) panel.show(db);
    },
  });
  const sources = [lanPeers(), links && webrtcPeers(links), urlPeers()].filter(Boolean);
  createPeersPanel(couch, byId("peers"), { sources, onChange: () => databases.refresh() });
  return databases.refresh();
}

// The footer names the browsercouch this app runs: its wheel's version in the dist's lock (the package's
// own __version__, as the extension's manifest and the server's welcome say).
async function showVersion() {
  const response = await fetch("dist/pyodide-lock.json");
  if (!response.ok) throw new Error(`dist/pyodide-lock.json: HTTP ${response.status}`);
  byId("version").textContent = (await response.json()).packages.browsercouch.version;
}

// WebRTC links of this tab's browsercouch: their frames travel between the page and its worker.
function startPeers(couch) {
  const peers = new PeerLinks(couch.port, couch.info.uuid);
  couch.onPeerMessage = (data) => peers.fromWorker(data);
  createWebrtcPanel(peers);
  return peers;
}

function describeBackend(couch) {
  if (couch instanceof HttpCouch) return couch.baseUrl;
  return couch.info?.storage ? `browsercouch in this tab (${couch.info.storage})` : "browsercouch in this tab";
}

try {
  const [couch] = await Promise.all([connect(), showVersion()]);
  const links = couch instanceof HttpCouch ? null : startPeers(couch);
  await startApp(couch, links);
  window.browsercouch = { couch, peers: links };
  loadProgress.value = 100;
  loadProgress.hidden = true;
  byId("backend").textContent = describeBackend(couch);
  status.textContent = "ready";
  document.body.dataset.ready = "1";
} catch (error) {
  loadProgress.hidden = true;
  status.textContent = `failed: ${describeError(error)}`;
  status.classList.add("error");
  document.body.dataset.ready = "failed";
}
