// The tab's database files, kept in IndexedDB in chunks: a save writes only the chunks that changed.
//
// Records: "<path>" -> {length} (the file's size) and "<path>\0<n>" -> the file's bytes from n*CHUNK on.
// A file is a row of cells of EXTENT chunks; a cell is kept either as one record (an extent, keyed by its
// first chunk) or as single-chunk records. `track(FS, dir)` wraps Emscripten's FS.write to note which
// chunks of the files under `dir` were written since the last save; a save then writes those chunks,
// the file's new length, and drops chunks past its end. A SQLite commit touches a few pages, so a save
// costs a few chunks, not the whole file (a 45 MB database saved whole took ~300 ms per write). A cell
// mostly written (a large attachment, a compaction) is saved as an extent: Chromium keeps every value
// over 64 KiB in a file of its own, and 160 such chunk files for 10 MB took ~170 ms to save against ~65
// ms for ten 1 MiB extents. A record is replaced whole, so an extent hit by small writes is saved whole
// again, and on the SPLIT_AFTER-th such save split into single chunks, after which small writes there
// cost a chunk again. Not at once: every record costs the worker ~0.5 ms, and SQLite's append of a large
// row touches the extent before it (its b-tree leaf) a few times.
//
// Every save is one transaction with {durability: "strict"} (flushed to disk before it completes;
// Chromium's default, "relaxed", may lose the last writes on power loss): all or nothing.
// A file saved whole by an earlier version ("<path>" -> its bytes) still loads.

const DB_NAME = "browsercouch-files";
const STORE = "files";
const CHUNK = 64 * 1024;
const EXTENT = 16; // chunks per cell: 1 MiB
const SPLIT_AFTER = 3; // saves of an extent for small writes, the last of which splits it
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
    this.extents = new Map(); // path -> Map of its cells kept as extents -> their saves for small writes
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
      const extents = new Map();
      const contents = await Promise.all(chunks.map(([, value]) => bytesOf(value)));
      // Extents first: a single chunk is never older than the extent of its cell.
      const order = chunks.map((_, at) => at).sort((a, b) => contents[b].length - contents[a].length);
      for (const at of order) {
        const index = chunks[at][0];
        data.set(contents[at].subarray(0, length - index * CHUNK), index * CHUNK);
        if (contents[at].length > CHUNK) extents.set(index / EXTENT, 0);
      }
      this.extents.set(path, extents);
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
    const data = contents(FS, path);
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
      for (const cell of extents.keys()) if (cell * EXTENT >= count) extents.delete(cell);
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
    // the worker half the time of a copied array, which IndexedDB would serialize again.
    const put = (from, to) => store.put(new Blob([data.subarray(from * CHUNK, to * CHUNK)]), chunkKey(path, from));
    for (const [cell, indexes] of cells) {
      const first = cell * EXTENT;
      const last = Math.min(first + EXTENT, count);
      const smallSaves = extents.get(cell);
      if (indexes.length * 2 >= EXTENT || (smallSaves !== undefined && smallSaves + 1 < SPLIT_AFTER)) {
        put(first, last);
        if (smallSaves === undefined) for (let index = first + 1; index < last; index++) store.delete(chunkKey(path, index));
        extents.set(cell, indexes.length * 2 >= EXTENT ? 0 : smallSaves + 1);
      } else {
        const singles = extents.has(cell) ? Array.from({ length: last - first }, (_, at) => first + at) : indexes;
        for (const index of singles) put(index, index + 1);
        extents.delete(cell);
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
function contents(FS, path) {
  const node = FS.lookupPath(path).node;
  return ArrayBuffer.isView(node.contents) ? node.contents.subarray(0, node.usedBytes) : FS.readFile(path);
}

// Every chunk record of `path`: the keys from "<path>\0" up to (not including) "<path>\1".
const allChunks = (path) => IDBKeyRange.bound(`${path}\0`, `${path}\u0001`, false, true);
