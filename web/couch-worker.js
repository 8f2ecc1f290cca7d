// browsercouch in a module worker: Pyodide from ./dist (never a CDN), the databases in IndexedDB.
//
// Messages from the page: {type: "request", id, method, path, headers, body: Uint8Array|null}.
// Messages to the page: {type: "progress", stage, percent} while loading, then {type: "ready", uuid,
// storage, timings} or {type: "failed", error}; {type: "response", id, status, headers, body} or
// {type: "response", id, error} for each request.
//
// Storage: the databases are SQLite files in Emscripten's memory file system under DATA_DIR, an IDBFS
// mount. They are loaded from IndexedDB at start, and every write is saved back (FS.syncfs) before it
// is acknowledged (browsercouch/browser/persist.py batches the syncs).

import { loadPyodide } from "./dist/pyodide.mjs";

const DATA_DIR = "/browsercouch";
const DIST = new URL("./dist/", import.meta.url).href;

function progress(stage, percent) {
  postMessage({ type: "progress", stage, percent });
}

function syncfs(FS, populate) {
  return new Promise((resolve, reject) => FS.syncfs(populate, (error) => (error ? reject(error) : resolve())));
}

async function start() {
  const started = performance.now();
  const timings = {};
  const mark = (name) => { timings[name] = Math.round(performance.now() - started); };
  progress("loading Python", 5);
  const pyodide = await loadPyodide({ indexURL: DIST });
  mark("pyodide");
  progress("loading browsercouch", 60);
  await pyodide.loadPackage(["browsercouch"], { messageCallback: () => {}, checkIntegrity: true });
  mark("packages");
  progress("opening databases", 85);
  const { FS } = pyodide;
  FS.mkdirTree(DATA_DIR);
  FS.mount(FS.filesystems.IDBFS, {}, DATA_DIR);
  await syncfs(FS, true);
  const tabModule = pyodide.pyimport("browsercouch.browser.tab");
  const tab = await tabModule.open_tab(DATA_DIR, () => syncfs(FS, false));
  mark("ready");
  return { tab, info: { uuid: tab.uuid, storage: "IndexedDB (IDBFS)", timings } };
}

const ready = start();

ready.then(
  ({ info }) => postMessage({ type: "ready", ...info }),
  (error) => postMessage({ type: "failed", error: String(error && error.stack || error) }),
);

onmessage = async ({ data }) => {
  if (data.type !== "request") return;
  try {
    const { tab } = await ready;
    const response = await tab.request(data.method, data.path, data.headers, data.body ?? undefined);
    postMessage({ type: "response", id: data.id, ...response }, [response.body.buffer]);
  } catch (error) {
    postMessage({ type: "response", id: data.id, error: String(error && error.message || error) });
  }
};
