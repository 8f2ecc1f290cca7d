// The tab's database files, kept in IndexedDB: one record per file (its path -> its bytes, whole).
//
// Emscripten's IDBFS would do the same, but its transactions use the browser's default durability,
// which Chromium relaxed in 2024: a "complete" transaction may still sit in the OS cache when the power
// goes. A write acknowledged to a CouchDB client must survive that, so every save here is one
// transaction with {durability: "strict"} (flushed to disk before it completes) holding all the files
// changed since the last save: a save is all or nothing.

const DB_NAME = "browsercouch-files";
const STORE = "files";

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error || new Error("the save was aborted"));
  });
}

export async function openFileStore() {
  const request = indexedDB.open(DB_NAME, 1);
  request.onupgradeneeded = () => request.result.createObjectStore(STORE);
  return new FileStore(await done(request));
}

class FileStore {
  constructor(db) {
    this.db = db;
  }

  // Write every saved file into Emscripten's FS (at start, before the databases are opened).
  async loadInto(FS) {
    const store = this.db.transaction(STORE, "readonly").objectStore(STORE);
    const [paths, contents] = await Promise.all([done(store.getAllKeys()), done(store.getAll())]);
    paths.forEach((path, index) => {
      FS.mkdirTree(path.slice(0, path.lastIndexOf("/")) || "/");
      FS.writeFile(path, contents[index]);
    });
    return paths.length;
  }

  // Save these files as they are now in FS; a path that no longer exists is deleted. `durability` is
  // always "strict" in the app; the benchmark (bench/browser/persist-worker.js) also times "relaxed".
  save(FS, paths, durability = "strict") {
    const transaction = this.db.transaction(STORE, "readwrite", { durability });
    const store = transaction.objectStore(STORE);
    for (const path of paths) {
      if (FS.analyzePath(path).exists) store.put(FS.readFile(path), path);
      else store.delete(path);
    }
    return committed(transaction);
  }
}
