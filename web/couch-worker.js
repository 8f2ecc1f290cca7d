// browsercouch in a module SharedWorker: Pyodide from ./dist (never a CDN), the databases in IndexedDB.
// One per origin: every page of the app connects to it, so two tabs never hold diverging copies.
//
// Messages from a page: {type: "request", id, method, path, headers, body: Uint8Array|null}; from the
// extension's serving page also {type: "serve", channel, admin: {name, password}|null} (serving.js) and
// {type: "stop-serving"}.
// Messages to the pages: {type: "progress", stage, percent} while loading, then {type: "ready", uuid,
// storage, timings} or {type: "failed", error}; {type: "response", id, status, headers, body} or
// {type: "response", id, error} for each request. To the serving page: {type: "serving"}, {type:
// "serve-error", error}, {type: "serve-closed"} (the channel closed: the bridge is gone) and, every
// second while serving, {type: "stats", connections, connections_total, requests, log, persists}.
//
// Storage: the databases are SQLite files in Emscripten's memory file system under DATA_DIR. They are
// loaded from IndexedDB at start (file-store.js), and every write is saved back, with strict durability,
// before it is acknowledged (browsercouch/browser/persist.py batches the saves).

import { loadPyodide } from "./dist/pyodide.mjs";
import { openFileStore } from "./file-store.js";
import { serveChannel } from "./serving.js";

const DATA_DIR = "/browsercouch";
const DIST = new URL("./dist/", import.meta.url).href;

const STATS_INTERVAL_MS = 1000;
const ports = new Set();
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
  const [pyodide, files] = await Promise.all([loadPyodide({ indexURL: DIST }), openFileStore()]);
  mark("pyodide");
  progress("loading browsercouch", 60);
  await pyodide.loadPackage(["browsercouch"], { messageCallback: () => {}, checkIntegrity: true });
  mark("packages");
  progress("opening databases", 85);
  const { FS } = pyodide;
  growFilesInLargeSteps(FS);
  FS.mkdirTree(DATA_DIR);
  await files.loadInto(FS);
  files.track(FS, DATA_DIR);
  const tabModule = pyodide.pyimport("browsercouch.browser.tab");
  const tab = await tabModule.open_tab(DATA_DIR, (paths) => files.save(FS, paths.toJs()));
  mark("ready");
  return { tab, info: { uuid: tab.uuid, storage: "IndexedDB", timings } };
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

async function answer(port, data) {
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
  port.onmessage = ({ data }) => answer(port, data);
  if (outcome) port.postMessage(outcome);
};
