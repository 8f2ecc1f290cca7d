// The persist benchmark (bench/bench_web.py) in a module worker, as the web app runs browsercouch:
// what it costs to save a tab's SQLite file to browser storage, by database size. The storages:
//   "OPFS writer"         what the tab does (web/opfs-files.js and opfs-writer.js, copied next to this
//                         file by the bench): the changed byte ranges, through the writer's journal;
//   "file-store strict"   the tab's fallback (web/file-store.js): the changed chunks in one IndexedDB
//                         transaction with strict durability;
//   "file-store relaxed"  the same with {durability: "relaxed"}, to show what strictness costs;
//   "IDBFS", "OPFS"       Emscripten's FS.syncfs over IndexedDB, Pyodide's mountNativeFS over OPFS.
//
// Message in: {sizes: [N, ...], writes: K}. Messages out: {type: "log", text} as it goes, then
// {type: "done", rows} or {type: "failed", error}. One row per size and storage:
//   {size, storage, fill_ms, bytes, first_ms, one_write_ms: [K times], load_ms, loaded_docs}
//
// For each size the database is built once with browsercouch's store in memory (MEMFS, persist_bench.py),
// then, for each storage in turn (each FS.syncfs saves every mount, so only one is mounted at a time):
// mount it empty, copy the files in, time the first save (every file, whole), then K times write one
// document and time the save of the files that write changed, then drop the in-memory copy, time loading
// it again (what a tab's start-up pays) and check that every document came back.

import { loadPyodide } from "./dist/pyodide.mjs";
import { openFileStore } from "./file-store.js";
import { OpfsFiles } from "./opfs-files.js";

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

function removeDir(FS, path) {
  for (const name of FS.readdir(path)) {
    if (name !== "." && name !== "..") FS.unlink(`${path}/${name}`);
  }
  FS.rmdir(path);
}

// Each storage: (pyodide, path) -> an object with
//   mount()      start with an empty directory at `path` (the profile is fresh, names are never reused);
//   save(paths)  persist the directory: the file store saves `paths`, IDBFS and OPFS every change;
//   unmount()    drop the in-memory copy, as a closed tab does;
//   load()       bring it back, as a tab's start-up does (timed);
//   forget()     once unmounted again, remove what was saved.
function fileStore(durability) {
  return ({ FS }, path) => {
    let files = null;
    let saved = [];
    return {
      async mount() {
        FS.mkdirTree(path);
        files = await openFileStore();
        files.track(FS, path);
      },
      save: (paths) => files.save(FS, paths, durability),
      // The tab opens its connection while Pyodide loads, so a new one is opened here, outside load().
      async unmount() {
        saved = FS.readdir(path).filter((name) => name !== "." && name !== "..").map((name) => `${path}/${name}`);
        removeDir(FS, path);
        files.db.close();
        files = await openFileStore();
      },
      async load() {
        const count = (await files.loadInto(FS)).length;
        if (count !== saved.length) throw new Error(`file store: ${count} files loaded, ${saved.length} saved`);
      },
      async forget() {
        await files.save(FS, saved, durability); // the files are gone from FS: their records are deleted
        files.db.close();
      },
    };
  };
}

function idbfs({ FS }, path) {
  const mount = async () => {
    FS.mkdirTree(path);
    FS.mount(FS.filesystems.IDBFS, {}, path);
    await syncfs(FS, true);
  };
  return {
    mount,
    save: () => syncfs(FS, false),
    unmount: () => FS.unmount(path),
    load: mount,
    forget: () => deleteIdbfs(FS, path),
  };
}

function opfsWriter({ FS }, path) {
  const name = path.split("/").pop();
  let files = null;
  let writer = null;
  let saved = [];
  const start = async () => {
    writer = new Worker(new URL("./opfs-writer.js", import.meta.url), { type: "module" });
    const channel = new MessageChannel();
    writer.postMessage({ type: "port", name }, [channel.port1]);
    files = new OpfsFiles();
    files.addWriter(channel.port2);
    if (!(await files.opened)) throw new Error("no OPFS sync access handles");
  };
  return {
    async mount() {
      FS.mkdirTree(path);
      await start();
      files.track(FS, path);
    },
    save: (paths) => files.save(FS, paths),
    // A new writer after the old one is gone, as a new tab's.
    async unmount() {
      saved = FS.readdir(path).filter((entry) => entry !== "." && entry !== "..").map((entry) => `${path}/${entry}`);
      removeDir(FS, path);
      writer.terminate();
      await start();
    },
    async load() {
      const count = (await files.loadInto(FS)).length;
      if (count !== saved.length) throw new Error(`OPFS writer: ${count} files loaded, ${saved.length} saved`);
    },
    async forget() {
      writer.terminate();
      await navigator.locks.request(name, () => {}); // the writer is gone, its files closed
      const root = await navigator.storage.getDirectory();
      await root.removeEntry(name, { recursive: true });
    },
  };
}

function opfs(pyodide, path) {
  const name = path.split("/").pop();
  let sync = null;
  const mount = async () => {
    const root = await navigator.storage.getDirectory();
    const handle = await root.getDirectoryHandle(name, { create: true });
    pyodide.FS.mkdirTree(path);
    ({ syncfs: sync } = await pyodide.mountNativeFS(path, handle));
  };
  return {
    mount,
    save: () => sync(),
    unmount: () => pyodide.FS.unmount(path),
    load: mount,
    async forget() {
      const root = await navigator.storage.getDirectory();
      await root.removeEntry(name, { recursive: true });
    },
  };
}

const STORAGES = {
  "OPFS writer": opfsWriter,
  "file-store strict": fileStore("strict"),
  "file-store relaxed": fileStore("relaxed"),
  IDBFS: idbfs,
  OPFS: opfs,
};

async function timed(action) {
  const started = performance.now();
  const value = await action();
  return [performance.now() - started, value];
}

// A Python list of paths as a JS array (the proxy is released).
function toArray(proxy) {
  const array = proxy.toJs();
  proxy.destroy();
  return array;
}

async function measure(pyodide, bench, storage, size, seedDir, writes) {
  const path = `${ROOT}/${storage.replace(/\W+/g, "-").toLowerCase()}-${size}`;
  const store = STORAGES[storage](pyodide, path);
  await store.mount();
  bench.copy_tree(seedDir, path);
  const bytes = bench.tree_size(path);
  const everyFile = toArray(bench.list_files(path));
  const [firstMs] = await timed(() => store.save(everyFile));
  const writer = bench.Writer(path);
  const oneWriteMs = [];
  try {
    for (let i = 0; i < writes; i++) {
      writer.write_one(i);
      const changed = toArray(writer.take_changed());
      if (changed.length === 0) throw new Error(`${storage} ${size}: a write changed no file`);
      oneWriteMs.push((await timed(() => store.save(changed)))[0]);
    }
  } finally {
    writer.close();
    writer.destroy();
  }
  const savedBytes = bench.tree_size(path);
  await store.unmount();
  const [loadMs] = await timed(() => store.load());
  const loadedBytes = bench.tree_size(path);
  if (loadedBytes !== savedBytes) throw new Error(`${storage} ${size}: saved ${savedBytes} bytes, loaded ${loadedBytes}`);
  const reader = bench.Writer(path);
  const loadedDocs = reader.doc_count();
  reader.close();
  reader.destroy();
  await store.unmount();
  await store.forget();
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
    removeDir(pyodide.FS, seedDir);
  }
  return rows;
}

self.onmessage = ({ data }) => {
  run(data).then(
    (rows) => post({ type: "done", rows }),
    (error) => post({ type: "failed", error: String((error && error.stack) || error) }),
  );
};
