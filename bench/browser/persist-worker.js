// The persist benchmark (bench/bench_browser.py) in a module worker, as the web app runs browsercouch:
// what it costs to save a tab's SQLite file to browser storage, IDBFS against OPFS, by database size.
//
// Message in: {sizes: [N, ...], writes: K}. Messages out: {type: "log", text} as it goes, then
// {type: "done", rows} or {type: "failed", error}. One row per size and storage:
//   {size, storage, fill_ms, bytes, first_ms, one_write_ms: [K times], load_ms, loaded_docs}
//
// For each size the database is built once with browsercouch's store in memory (MEMFS, persist_bench.py),
// then, for each storage in turn (each FS.syncfs saves every mount, so only one is mounted at a time):
// mount it empty, copy the file in, time the first save (the whole file), then K times write one document
// and time the save, then unmount, time mounting it again (what a tab's start-up pays) and check that
// every document came back.

import { loadPyodide } from "./dist/pyodide.mjs";

const ROOT = "/bench";
const PY_DIR = `${ROOT}/py`;

const post = (message) => self.postMessage(message);
const log = (text) => post({ type: "log", text });

function syncfs(FS, populate) {
  return new Promise((resolve, reject) => FS.syncfs(populate, (error) => (error ? reject(error) : resolve())));
}

// IDBFS keeps its IndexedDB connection open (in IDBFS.dbs): close it, or deleteDatabase stays blocked.
function deleteIdbfs(FS, path) {
  const cache = FS.filesystems.IDBFS.dbs;
  if (cache[path]) {
    cache[path].close();
    delete cache[path];
  }
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(path);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error(`deleting IndexedDB ${path} is blocked`));
  });
}

// Each storage: mount(pyodide, path) -> save(), an async function that persists the mount; forget(path)
// removes what was saved. Both mounts start empty: the profile is fresh and names are never reused.
const STORAGES = {
  IDBFS: {
    async mount({ FS }, path) {
      FS.mkdirTree(path);
      FS.mount(FS.filesystems.IDBFS, {}, path);
      await syncfs(FS, true);
      return () => syncfs(FS, false);
    },
    forget: ({ FS }, path) => deleteIdbfs(FS, path),
  },
  OPFS: {
    async mount(pyodide, path) {
      const root = await navigator.storage.getDirectory();
      const handle = await root.getDirectoryHandle(path.split("/").pop(), { create: true });
      pyodide.FS.mkdirTree(path);
      const { syncfs: save } = await pyodide.mountNativeFS(path, handle);
      return save;
    },
    async forget(pyodide, path) {
      const root = await navigator.storage.getDirectory();
      await root.removeEntry(path.split("/").pop(), { recursive: true });
    },
  },
};

async function timed(action) {
  const started = performance.now();
  const value = await action();
  return [performance.now() - started, value];
}

async function measure(pyodide, bench, storage, size, seedDir, writes) {
  const { mount, forget } = STORAGES[storage];
  const path = `${ROOT}/${storage.toLowerCase()}-${size}`;
  const save = await mount(pyodide, path);
  bench.copy_tree(seedDir, path);
  const bytes = bench.tree_size(path);
  const [firstMs] = await timed(save);
  const writer = bench.Writer(path);
  const oneWriteMs = [];
  try {
    for (let i = 0; i < writes; i++) {
      writer.write_one(i);
      oneWriteMs.push((await timed(save))[0]);
    }
  } finally {
    writer.close();
    writer.destroy();
  }
  const savedBytes = bench.tree_size(path);
  pyodide.FS.unmount(path);
  const [loadMs] = await timed(() => mount(pyodide, path));
  const loadedBytes = bench.tree_size(path);
  if (loadedBytes !== savedBytes) throw new Error(`${storage} ${size}: saved ${savedBytes} bytes, loaded ${loadedBytes}`);
  const reader = bench.Writer(path);
  const loadedDocs = reader.doc_count();
  reader.close();
  reader.destroy();
  pyodide.FS.unmount(path);
  await forget(pyodide, path);
  return { size, storage, bytes, first_ms: firstMs, one_write_ms: oneWriteMs, load_ms: loadMs, loaded_docs: loadedDocs };
}

async function run({ sizes, writes }) {
  const [loadMs, pyodide] = await timed(() => loadPyodide({ indexURL: new URL("./dist/", import.meta.url).href }));
  await pyodide.loadPackage(["browsercouch"], { messageCallback: () => {}, checkIntegrity: true });
  log(`Pyodide and browsercouch loaded in ${Math.round(loadMs)} ms (Pyodide)`);
  const source = await fetch(new URL("./persist_bench.py", import.meta.url));
  if (!source.ok) throw new Error(`persist_bench.py: HTTP ${source.status}`);
  pyodide.FS.mkdirTree(PY_DIR);
  pyodide.FS.writeFile(`${PY_DIR}/persist_bench.py`, await source.text());
  pyodide.pyimport("sys").path.insert(0, PY_DIR);
  const bench = pyodide.pyimport("persist_bench");
  const rows = [];
  for (const size of sizes) {
    const seedDir = `${ROOT}/seed-${size}`;
    const [fillMs, count] = await timed(() => bench.fill(seedDir, size));
    if (count !== size) throw new Error(`filled ${count} docs, expected ${size}`);
    log(`${size} docs written in ${Math.round(fillMs)} ms (${Math.round(size / fillMs * 1000)} docs/s)`);
    for (const storage of Object.keys(STORAGES)) {
      const row = await measure(pyodide, bench, storage, size, seedDir, writes);
      log(`${size} docs, ${storage}: first save ${Math.round(row.first_ms)} ms, load ${Math.round(row.load_ms)} ms`);
      rows.push({ ...row, fill_ms: fillMs });
    }
    for (const name of pyodide.FS.readdir(seedDir)) {
      if (name !== "." && name !== "..") pyodide.FS.unlink(`${seedDir}/${name}`);
    }
  }
  return rows;
}

self.onmessage = ({ data }) => {
  run(data).then(
    (rows) => post({ type: "done", rows }),
    (error) => post({ type: "failed", error: String((error && error.stack) || error) }),
  );
};
