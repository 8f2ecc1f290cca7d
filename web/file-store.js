// The tab's database files, kept in IndexedDB in chunks: a save writes only the chunks that changed.
//
// Records: "<path>" -> {length} (the file's size), "<path>\0<n>" -> chunk n of the file (CHUNK bytes
// from n*CHUNK on, fewer at its end) and "<path>\0<n>+" -> an extent: the cell of EXTENT chunks that
// starts at chunk n. `track(FS, dir)` wraps Emscripten's FS.write to note which chunks of the files under
// `dir` were written since the last save; a save then writes those chunks, the file's new length, and
// drops chunks past its end. A SQLite commit touches a few pages, so a save costs a few chunks, not the
// whole file (a 45 MB database saved whole took ~300 ms per write).
//
// A cell mostly written at once (a large attachment, a compaction) is saved as an extent: Chromium keeps
// every value over 64 KiB in a file of its own, and 160 such chunk files for 10 MB took ~170 ms to save
// against ~65 ms for ten 1 MiB extents. A few chunks written into an extent's cell later are saved as
// chunks over it (loading applies extents first, then chunks), not by saving the extent again: a large
// SQLite row appended after another touches the cell before it (its b-tree leaf), and saving that cell
// whole again doubled the bytes an upload saved. An extent saved again drops the chunks over it.
//
// Every save is one transaction with {durability: "strict"} (flushed to disk before it completes;
// Chromium's default, "relaxed", may lose the last writes on power loss): all or nothing.
// A file saved whole by an earlier version ("<path>" -> its bytes) still loads.

export const DB_NAME = "browsercouch-files";
const STORE = "files";
const CHUNK = 64 * 1024;
const EXTENT = 16; // chunks per cell: 1 MiB
export const WHOLE = "whole"; // no record of what changed in a file (new, renamed over): save all of it

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
const extentKey = (path, cell) => `${path}\0${cell * EXTENT}+`;
const chunkCount = (length) => Math.ceil(length / CHUNK);

// `name`: the IndexedDB database (tests use their own).
export async function openFileStore(name = DB_NAME) {
  const request = indexedDB.open(name, 1);
  request.onupgradeneeded = () => request.result.createObjectStore(STORE);
  return new FileStore(await done(request));
}

class FileStore {
  constructor(db) {
    this.db = db;
    this.saved = new Map(); // path -> the length its records hold
    this.extents = new Map(); // path -> Map of its cells that have an extent -> Set of the chunks saved over it
    this.written = new Map(); // path -> Set of chunk indexes written since its last save, or WHOLE
  }

  // Note the chunks written (or cut off) in files under `dir` from now on.
  track(FS, dir) {
    const written = this.written;
    const note = (path, from, to) => {
      if (written.get(path) === WHOLE || to <= from) return;
      const chunks = written.get(path) ?? new Set();
      for (let index = Math.floor(from / CHUNK); index < chunkCount(to); index++) chunks.add(index);
      written.set(path, chunks);
    };
    trackWrites(FS, dir, note);
  }

  // Write every saved file into Emscripten's FS (at start, before the databases are opened); returns
  // their paths.
  async loadInto(FS) {
    const store = this.db.transaction(STORE, "readonly").objectStore(STORE);
    const [keys, values] = await Promise.all([done(store.getAllKeys()), done(store.getAll())]);
    const files = new Map();
    const file = (path) => files.get(path) ?? files.set(path, { length: 0, chunks: [] }).get(path);
    keys.forEach((key, at) => {
      const split = key.indexOf("\0");
      const value = values[at];
      if (split >= 0) file(key.slice(0, split)).chunks.push([key.slice(split + 1), value]);
      else if (ArrayBuffer.isView(value)) Object.assign(file(key), { length: value.length, whole: value });
      else file(key).length = value.length;
    });
    for (const [path, { length, chunks, whole }] of files) {
      const data = whole ?? new Uint8Array(length);
      const extents = new Map();
      const contents = await Promise.all(chunks.map(([, value]) => bytesOf(value)));
      const records = chunks.map(([name], at) => ({
        index: parseInt(name, 10), extent: name.endsWith("+"), bytes: contents[at],
      }));
      // Extents first: a chunk over an extent is newer than it.
      for (const { index, extent, bytes } of records.sort((a, b) => b.extent - a.extent)) {
        data.set(bytes.subarray(0, Math.max(length - index * CHUNK, 0)), index * CHUNK);
        if (extent) extents.set(index / EXTENT, new Set());
        else if (extents.has(Math.floor(index / EXTENT))) extents.get(Math.floor(index / EXTENT)).add(index);
      }
      this.extents.set(path, extents);
      FS.mkdirTree(path.slice(0, path.lastIndexOf("/")) || "/");
      FS.writeFile(path, data);
      this.written.delete(path);
      if (!whole) this.saved.set(path, length);
    }
    return [...files.keys()];
  }

  // Save what changed in these files since their last save; a path that no longer exists is deleted.
  // `durability` is always "strict" in the app; the benchmark (bench/web/persist-worker.js) also
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
        this.extents.delete(path);
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
  // known) and those a change of length touched, cell by cell (see the top of this file), and the
  // deletion of chunks past its new end. Returns its length.
  saveFile(FS, store, path, written) {
    const data = fileContents(FS, path);
    const count = chunkCount(data.length);
    const savedLength = this.saved.get(path);
    let extents = this.extents.get(path);
    const dirty = new Set();
    if (written === undefined || written === WHOLE || savedLength === undefined || extents === undefined) {
      store.delete(allChunks(path));
      extents = new Map();
      for (let index = 0; index < count; index++) dirty.add(index);
    } else {
      for (let index = count; index < chunkCount(savedLength); index++) store.delete(chunkKey(path, index));
      for (const cell of extents.keys()) {
        if (cell * EXTENT >= count) {
          store.delete(extentKey(path, cell));
          extents.delete(cell);
        }
      }
      for (const index of written) if (index < count) dirty.add(index);
      // A new length rewrites the chunk the old end was in and every chunk after it.
      const end = Math.min(savedLength, data.length);
      for (let index = savedLength === data.length ? count : Math.floor(end / CHUNK); index < count; index++) {
        dirty.add(index);
      }
    }
    this.extents.set(path, extents);
    const cells = new Map(); // cell -> its dirty chunks
    for (const index of dirty) {
      const cell = Math.floor(index / EXTENT);
      cells.set(cell, (cells.get(cell) ?? []).concat(index));
    }
    // A Blob copies just these bytes (a typed-array view would be stored with its whole buffer) and costs
    // the worker less than a copied array, which IndexedDB would serialize again.
    const bytes = (from, to) => new Blob([data.subarray(from * CHUNK, to * CHUNK)]);
    const saved = chunkCount(savedLength ?? 0); // chunks that may have records
    for (const [cell, indexes] of cells) {
      const first = cell * EXTENT;
      const last = Math.min(first + EXTENT, count);
      if (indexes.length * 2 >= EXTENT) {
        store.put(bytes(first, last), extentKey(path, cell));
        const over = extents.get(cell) ?? Array.from({ length: Math.min(last, saved) - first }, (_, at) => first + at);
        for (const index of over) store.delete(chunkKey(path, index));
        extents.set(cell, new Set());
      } else {
        for (const index of indexes) {
          store.put(bytes(index, index + 1), chunkKey(path, index));
          extents.get(cell)?.add(index);
        }
      }
    }
    store.put({ length: data.length }, path);
    return data.length;
  }
}

// A record's bytes: a Blob, or a Uint8Array as earlier versions saved them.
async function bytesOf(value) {
  return value instanceof Blob ? new Uint8Array(await value.arrayBuffer()) : value;
}

// The file's bytes: a view of the in-memory file (MEMFS) where possible, not a copy of all of it.
export function fileContents(FS, path) {
  const node = FS.lookupPath(path).node;
  return ArrayBuffer.isView(node.contents) ? node.contents.subarray(0, node.usedBytes) : FS.readFile(path);
}

// Call `changed(path, from, to)` for the bytes of every write to a file under `dir` from now on, and for
// the bytes cut off when one is truncated: bytes past the new length that are written again later are
// new, and must be saved even where no write reaches them (they read as zeros). FS.write and FS.truncate
// are what every write and truncation goes through (FS.ftruncate calls the latter).
export function trackWrites(FS, dir, changed) {
  const { write, truncate } = FS;
  FS.write = function trackedWrite(stream, buffer, offset, length, position, canOwn) {
    const at = position ?? stream.position;
    const count = write.call(this, stream, buffer, offset, length, position, canOwn);
    if (stream.path?.startsWith(dir) && count > 0) changed(stream.path, at, at + count);
    return count;
  };
  FS.truncate = function trackedTruncate(target, length) {
    const path = typeof target === "string" ? target : FS.getPath(target);
    const before = path.startsWith(dir) && FS.analyzePath(path).exists ? FS.stat(path).size : 0;
    truncate.call(this, target, length);
    if (length < before) changed(path, length, before);
  };
}

// Every chunk record of `path`: the keys from "<path>\0" up to (not including) "<path>\1".
const allChunks = (path) => IDBKeyRange.bound(`${path}\0`, `${path}\u0001`, false, true);
