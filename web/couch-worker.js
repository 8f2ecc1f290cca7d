// browsercouch in a module SharedWorker: Pyodide from ./dist (never a CDN), the databases in OPFS.
// One per origin: every page of the app connects to it, so two tabs never hold diverging copies.
//
// Messages from a page: {type: "writer"} with the port of the page's file writer (opfs-writer.js,
// started by couch.js's hostFileWriter), {type: "request", id, method, path, headers, body:
// Uint8Array|null}; from the extension's serving page also {type: "serve", channel, admin: {name,
// password}|null, cors: [origin], hostnames: [name]} (serving.js) and {type: "stop-serving"}.
// From a page with WebRTC links (webrtc.js): {type: "rtc-open", link, peer}, {type: "rtc-frame", link,
// direction, data: ArrayBuffer}, {type: "rtc-closed", link}; back to that page {type: "rtc-send", link,
// direction, data: ArrayBuffer}, and {type: "rtc-drop", link} when a message was not a frame
// (browsercouch/tab/peers.py serves and sends over them).
// Messages to the pages: {type: "progress", stage, percent} while loading, then {type: "ready", uuid,
// storage, timings} or {type: "failed", error}; {type: "response", id, status, headers, body} or
// {type: "response", id, error} for each request. To the serving page: {type: "serving"}, {type:
// "serve-error", error}, {type: "serve-closed"} (the channel closed: the bridge is gone) and, every
// second while serving, {type: "stats", connections, connections_total, requests, log, persists}.
//
// Storage: the databases are SQLite files in Emscripten's memory file system under DATA_DIR. They are
// loaded at start, and every write is saved back durably before it is acknowledged
// (browsercouch/tab/persist.py batches the saves): to OPFS through the pages' file writers
// (opfs-files.js), or to IndexedDB (file-store.js) where a browser has no OPFS sync access handles.
// Files an earlier version kept in IndexedDB move to OPFS on the first start with it.

import { loadPyodide } from "./dist/pyodide.mjs";
import { DB_NAME, openFileStore } from "./file-store.js";
import { OpfsFiles } from "./opfs-files.js";
import { loadQuickJS } from "./quickjs-engine.js";
import { serveChannel } from "./serving.js";

const DATA_DIR = "/browsercouch";
const DIST = new URL("./dist/", import.meta.url).href;

const STATS_INTERVAL_MS = 1000;
const ports = new Set();
const opfs = new OpfsFiles();
let stopServing = null;
let statsTimer = null;
let outcome = null; // the ready or failed message, once known; pages that connect later get it at once

function broadcast(message) {
  for (const port of ports) port.postMessage(message);
}

function progress(stage, percent) {
  broadcast({ type: "progress", stage, percent });
}

async function start() {
  const started = performance.now();
  const timings = {};
  const mark = (name) => { timings[name] = Math.round(performance.now() - started); };
  progress("loading Python", 5);
  const [pyodide, files, quickjs] = await Promise.all([loadPyodide({ indexURL: DIST }), openFiles(), startQuickJS()]);
  mark("pyodide");
  progress("loading browsercouch", 60);
  await pyodide.loadPackage(["browsercouch"], { messageCallback: () => {}, checkIntegrity: true });
  mark("packages");
  progress("opening databases", 85);
  const { FS } = pyodide;
  growFilesInLargeSteps(FS);
  FS.mkdirTree(DATA_DIR);
  files.track(FS, DATA_DIR);
  const loaded = await files.loadInto(FS);
  if (files === opfs && loaded.length === 0) await moveFromIndexedDB(FS, files);
  const tabModule = pyodide.pyimport("browsercouch.tab.entry");
  const tab = await tabModule.open_tab(DATA_DIR, (paths) => files.save(FS, paths.toJs()), quickjs ?? undefined);
  mark("ready");
  return { tab, info: { uuid: tab.uuid, storage: files === opfs ? "OPFS" : "IndexedDB", timings } };
}

// The engine design functions run in. It loads beside Pyodide (~10 ms against Pyodide's seconds), not on
// first use: the query server's calls are synchronous and WebAssembly modules load asynchronously.
// Without it the tab still serves, and views, validation and filters answer 501.
async function startQuickJS() {
  try {
    return await loadQuickJS();
  } catch (error) {
    console.error("browsercouch: QuickJS did not load; views, validation and filters answer 501:", error);
    return null;
  }
}

// OPFS once a page's file writer is active; IndexedDB if the first writer to answer cannot use OPFS.
async function openFiles() {
  return (await opfs.opened) ?? openFileStore();
}

// The files an earlier version saved in IndexedDB, saved to OPFS; the IndexedDB database is then deleted.
async function moveFromIndexedDB(FS, files) {
  if (!(await indexedDB.databases()).some(({ name }) => name === DB_NAME)) return;
  const old = await openFileStore();
  const paths = await old.loadInto(FS);
  if (paths.length > 0) await files.save(FS, paths);
  old.db.close();
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DB_NAME);
    request.onsuccess = resolve;
    request.onerror = () => reject(request.error);
  });
}

// Emscripten's MEMFS grows a file past 1 MiB by 12.5% at a time, copying all of it each time: a 10 MB
// attachment written into a database file cost ~20 copies of the file. Doubling (by at most GROWTH_MAX
// bytes at once) copies each byte about twice; SQLite commits of large parts got 2-3x faster.
const GROWTH_MAX = 64 << 20;

function growFilesInLargeSteps(FS) {
  const MEMFS = FS.filesystems.MEMFS;
  MEMFS.expandFileStorage = function expandFileStorage(node, needed) {
    const capacity = node.contents ? node.contents.length : 0;
    if (capacity >= needed) return;
    const grown = new Uint8Array(Math.max(needed, capacity + Math.min(Math.max(capacity, 256), GROWTH_MAX)));
    if (node.usedBytes > 0) grown.set(MEMFS.getFileDataAsTypedArray(node));
    node.contents = grown;
  };
}

const ready = start();

ready.then(
  ({ info }) => { outcome = { type: "ready", ...info }; broadcast(outcome); },
  (error) => { outcome = { type: "failed", error: String(error && error.stack || error) }; broadcast(outcome); },
);

function stop() {
  if (stopServing) stopServing();
  stopServing = null;
  clearInterval(statsTimer);
}

async function serve(port, data) {
  try {
    const { tab } = await ready;
    stop();
    stopServing = await serveChannel(tab, data, () => {
      stopServing = null;
      clearInterval(statsTimer);
      port.postMessage({ type: "serve-closed" });
    });
    statsTimer = setInterval(() => port.postMessage({ type: "stats", ...tab.stats() }), STATS_INTERVAL_MS);
    port.postMessage({ type: "serving" });
  } catch (error) {
    port.postMessage({ type: "serve-error", error: String(error && error.message || error) });
  }
}

// A WebRTC link's messages: Python serves and sends over it; its frames go back to the page that owns it.
async function peerMessage(port, data) {
  const { tab } = await ready;
  if (data.type === "rtc-frame") {
    if (!tab.peer_receive(data.link, data.direction, new Uint8Array(data.data))) {
      port.postMessage({ type: "rtc-drop", link: data.link });
    }
  } else if (data.type === "rtc-closed") tab.peer_closed(data.link);
  else {
    tab.peer_open(data.link, data.peer, (direction, bytes) => {
      port.postMessage({ type: "rtc-send", link: data.link, direction, data: bytes.buffer }, [bytes.buffer]);
    });
  }
}

async function answer(port, data, transferred) {
  if (data.type === "writer") return opfs.addWriter(transferred[0]);
  if (data.type.startsWith("rtc-")) return peerMessage(port, data);
  if (data.type === "serve") return serve(port, data);
  if (data.type === "stop-serving") return stop();
  if (data.type !== "request") return;
  try {
    const { tab } = await ready;
    const response = await tab.request(data.method, data.path, data.headers, data.body ?? undefined);
    port.postMessage({ type: "response", id: data.id, ...response }, [response.body.buffer]);
  } catch (error) {
    port.postMessage({ type: "response", id: data.id, error: String(error && error.message || error) });
  }
}

onconnect = ({ ports: [port] }) => {
  ports.add(port);
  port.onmessage = ({ data, ports: transferred }) => answer(port, data, transferred);
  if (outcome) port.postMessage(outcome);
};
