// The tab's database files, kept in IndexedDB in chunks: a save writes only the chunks that changed.
//
// Records: "<path>" -> {length} (the file's size) and "<path>\0<n>" -> the file's bytes n*CHUNK onwards
// (CHUNK of them at most). `track(FS, dir)` wraps Emscripten's FS.write to note which chunks of the
// files under `dir` were written since the last save; a save then writes those chunks, the file's new
// length, and drops chunks past its end. A SQLite commit touches a few pages, so a save costs a few
// chunks, not the whole file (a 45 MB database saved whole took ~300 ms per write).
//
// Every save is one transaction with {durability: "strict"} (flushed to disk before it completes;
// Chromium's default, "relaxed", may lose the last writes on power loss): all or nothing.
// A file saved whole by an earlier version ("<path>" -> its bytes) still loads.

const DB_NAME = "browsercouch-files";
const STORE = "files";
const CHUNK = 64 * 1024;
const WHOLE = "whole"; // no record of what changed in a file (new, renamed over): save all of it

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

const chunkKey = (path, index) => `${path}\0${index}`;
const chunkCount = (length) => Math.ceil(length / CHUNK);

export async function openFileStore() {
  const request = indexedDB.open(DB_NAME, 1);
  request.onupgradeneeded = () => request.result.createObjectStore(STORE);
  return new FileStore(await done(request));
}

class FileStore {
  constructor(db) {
    this.db = db;
    this.saved = new Map(); // path -> the length its records hold
    this.written = new Map(); // path -> Set of chunk indexes written since its last save, or WHOLE
  }

  // Note the chunks written to files under `dir` from now on (FS.write is what every write goes through).
  track(FS, dir) {
    const write = FS.write;
    const written = this.written;
    FS.write = function trackedWrite(stream, buffer, offset, length, position, canOwn) {
      const at = position ?? stream.position;
      const count = write.call(this, stream, buffer, offset, length, position, canOwn);
      const path = stream.path;
      if (path?.startsWith(dir) && count > 0 && written.get(path) !== WHOLE) {
        const chunks = written.get(path) ?? new Set();
        for (let index = Math.floor(at / CHUNK); index < chunkCount(at + count); index++) chunks.add(index);
        written.set(path, chunks);
      }
      return count;
    };
  }

  // Write every saved file into Emscripten's FS (at start, before the databases are opened).
  async loadInto(FS) {
    const store = this.db.transaction(STORE, "readonly").objectStore(STORE);
    const [keys, values] = await Promise.all([done(store.getAllKeys()), done(store.getAll())]);
    const files = new Map();
    const file = (path) => files.get(path) ?? files.set(path, { length: 0, chunks: [] }).get(path);
    keys.forEach((key, at) => {
      const split = key.indexOf("\0");
      const value = values[at];
      if (split >= 0) file(key.slice(0, split)).chunks.push([Number(key.slice(split + 1)), value]);
      else if (ArrayBuffer.isView(value)) Object.assign(file(key), { length: value.length, whole: value });
      else file(key).length = value.length;
    });
    for (const [path, { length, chunks, whole }] of files) {
      const data = whole ?? new Uint8Array(length);
      for (const [index, bytes] of chunks) data.set(bytes.subarray(0, length - index * CHUNK), index * CHUNK);
      FS.mkdirTree(path.slice(0, path.lastIndexOf("/")) || "/");
      FS.writeFile(path, data);
      this.written.delete(path);
      if (!whole) this.saved.set(path, length);
    }
    return files.size;
  }

  // Save what changed in these files since their last save; a path that no longer exists is deleted.
  // `durability` is always "strict" in the app; the benchmark (bench/browser/persist-worker.js) also
  // times "relaxed".
  async save(FS, paths, durability = "strict") {
    const transaction = this.db.transaction(STORE, "readwrite", { durability });
    const store = transaction.objectStore(STORE);
    const taken = new Map(paths.map((path) => [path, this.written.get(path)]));
    const lengths = new Map();
    for (const path of paths) {
      this.written.delete(path);
      if (FS.analyzePath(path).exists) {
        lengths.set(path, this.saveFile(FS, store, path, taken.get(path)));
      } else {
        store.delete(allChunks(path));
        store.delete(path);
      }
    }
    try {
      await committed(transaction);
    } catch (error) {
      for (const [path] of taken) this.written.set(path, WHOLE); // save them whole next time
      throw error;
    }
    for (const path of paths) {
      if (lengths.has(path)) this.saved.set(path, lengths.get(path));
      else this.saved.delete(path);
    }
  }

  // Queue the writes for one file: the chunks written since its last save (all of them when that is not
  // known), those a change of length touched, and the deletion of chunks past its new end. Returns its
  // length.
  saveFile(FS, store, path, written) {
    const data = contents(FS, path);
    const count = chunkCount(data.length);
    const savedLength = this.saved.get(path);
    let indexes;
    if (written === undefined || written === WHOLE || savedLength === undefined) {
      store.delete(allChunks(path));
      indexes = Array.from({ length: count }, (_, index) => index);
    } else {
      for (let index = count; index < chunkCount(savedLength); index++) store.delete(chunkKey(path, index));
      // A new length rewrites the chunk the old end was in and every chunk after it.
      const end = Math.min(savedLength, data.length);
      const from = savedLength === data.length ? count : Math.floor(end / CHUNK);
      indexes = [...written];
      for (let index = from; index < count; index++) indexes.push(index);
    }
    for (const index of new Set(indexes)) {
      // slice, not subarray: a view would be stored with its whole underlying buffer.
      if (index >= count) continue;
      store.put(data.slice(index * CHUNK, (index + 1) * CHUNK), chunkKey(path, index));
    }
    store.put({ length: data.length }, path);
    return data.length;
  }
}

// The file's bytes: a view of the in-memory file (MEMFS) where possible, not a copy of all of it.
function contents(FS, path) {
  const node = FS.lookupPath(path).node;
  return ArrayBuffer.isView(node.contents) ? node.contents.subarray(0, node.usedBytes) : FS.readFile(path);
}

// Every chunk record of `path`: the keys from "<path>\0" up to (not including) "<path>\1".
const allChunks = (path) => IDBKeyRange.bound(`${path}\0`, `${path}\u0001`, false, true);
