// The tab's database files on disk: a dedicated worker that keeps them in the origin private file system
// (OPFS) with sync access handles, which only a dedicated worker may open and which write straight to a
// file: a 10 MB save costs ~30 ms here against ~100 ms of the shared worker's own thread with IndexedDB.
// Every page of the app starts one and hands its port to the shared worker (opfs-files.js has that side);
// they queue on one Web Lock, so exactly one writes at a time and the next takes over when its page goes.
//
// Messages on the port handed over with {type: "port", name}: `name` names the lock and the OPFS
// directory (default "browsercouch-files"; tests use their own).
//   <- {type: "active"} once this writer holds the lock and the files are recovered,
//      {type: "unsupported", error} where OPFS sync access handles are not available, or
//      {type: "failed", error} when they are but the files would not open
//   -> {type: "load", id}                           <- {type: "loaded", id, files: [{path, bytes}]}
//   -> {type: "save", id, files: [{path, length, writes: [[at, ArrayBuffer]]}], deleted: [path], haltAt}
//        <- {type: "saved", id} or {type: "save-failed", id, error}
// `haltAt` is for tests: the writer stops dead at that step of the save ("appended", "recorded",
// "committed" or "applied"), as a crash there would, and answers nothing more.
//
// A save is all or nothing, with a redo journal. The writes past a file's committed length (appends: an
// attachment, new pages) go straight into the file, since nothing committed lives there, and are flushed.
// Then the journal record (the new length of every file, and the bytes of the writes that overwrite
// committed data) is written and flushed, and only then its trailer: the commit point. Then the
// overwrites are applied, files cut short or removed, and what changed flushed. Two journal slots alternate, so the last committed record
// survives a crash while the next one is half written. At start the newest complete record is applied
// again (applying it twice changes nothing) and every file is cut to its committed length: whatever a
// save that never committed wrote is gone.

const NAME = "browsercouch-files";
const SLOTS = ["journal-0", "journal-1"];
const TRAILER = 8; // "bcjr" and the record's sequence number (uint32, little endian)
const MAGIC = 0x726a6362; // "bcjr"

// An OPFS file name for a path of Emscripten's FS (names may not contain "/").
const fileName = (path) => encodeURIComponent(path);
const pathOf = (name) => decodeURIComponent(name);

class Journal {
  constructor(dir) {
    this.dir = dir;
    this.handles = new Map(); // path -> FileSystemSyncAccessHandle
    this.lengths = new Map(); // path -> committed length
    this.seq = 0;
  }

  async open() {
    for (const name of SLOTS) this.handles.set(name, await this.openHandle(name));
    const record = this.newestRecord();
    if (record) {
      this.seq = record.seq;
      this.lengths = new Map(Object.entries(record.lengths));
    }
    const entries = [];
    for await (const entry of this.dir.entries()) entries.push(entry);
    for (const [name, entry] of entries) {
      if (entry.kind !== "file" || SLOTS.includes(name)) continue;
      const path = pathOf(name);
      if (this.lengths.has(path)) this.handles.set(path, await entry.createSyncAccessHandle());
      else await this.dir.removeEntry(name); // created by a save that never committed
    }
    if (record) this.apply(record.writes);
    for (const [path, length] of this.lengths) {
      const handle = this.handles.get(path) ?? await this.create(path);
      handle.truncate(length);
      handle.flush();
    }
  }

  close() {
    for (const handle of this.handles.values()) handle.close();
    this.handles.clear();
  }

  async openHandle(name) {
    const file = await this.dir.getFileHandle(name, { create: true });
    return file.createSyncAccessHandle();
  }

  async create(path) {
    const handle = await this.openHandle(fileName(path));
    this.handles.set(path, handle);
    return handle;
  }

  // The complete record with the highest sequence number: {seq, lengths, writes: [[path, at, bytes]]}.
  newestRecord() {
    let newest = null;
    for (const name of SLOTS) {
      const record = readRecord(this.handles.get(name));
      if (record && (!newest || record.seq > newest.seq)) newest = record;
    }
    return newest;
  }

  apply(writes) {
    const touched = new Set();
    for (const [path, at, bytes] of writes) {
      this.handles.get(path).write(bytes, { at });
      touched.add(path);
    }
    return touched;
  }

  load() {
    const files = [];
    for (const [path, length] of this.lengths) {
      const bytes = new Uint8Array(length);
      this.handles.get(path).read(bytes, { at: 0 });
      files.push({ path, bytes });
    }
    return files;
  }

  async save(files, deleted, haltAt) {
    const halt = (step) => {
      if (step === haltAt) throw new Halted(step);
    };
    const lengths = new Map(this.lengths);
    const overwrites = [];
    const appended = new Set();
    for (const { path, length, writes } of files) {
      const handle = this.handles.get(path) ?? await this.create(path);
      const committed = this.lengths.get(path) ?? 0;
      for (const [at, buffer] of writes) {
        const bytes = new Uint8Array(buffer);
        const inside = Math.min(Math.max(committed - at, 0), bytes.length);
        if (inside < bytes.length) {
          handle.write(bytes.subarray(inside), { at: at + inside });
          appended.add(path);
        }
        if (inside > 0) overwrites.push([path, at, bytes.subarray(0, inside)]);
      }
      lengths.set(path, length);
    }
    for (const path of deleted) lengths.delete(path);
    for (const path of appended) this.handles.get(path).flush();
    halt("appended");
    const seq = this.seq + 1;
    writeRecord(this.handles.get(SLOTS[seq % 2]), seq, lengths, overwrites, () => halt("recorded"));
    halt("committed");
    this.seq = seq;
    this.lengths = lengths;
    const changed = this.apply(overwrites);
    halt("applied");
    for (const { path } of files) {
      const handle = this.handles.get(path);
      if (handle.getSize() > lengths.get(path)) {
        handle.truncate(lengths.get(path));
        changed.add(path);
      }
    }
    for (const path of changed) this.handles.get(path).flush();
    for (const path of deleted) {
      this.handles.get(path)?.close();
      this.handles.delete(path);
      await this.dir.removeEntry(fileName(path)).catch(() => {});
    }
  }
}

// Record: uint32 header length, the header (JSON: {seq, lengths, writes: [[path, at, length]]}), the
// overwritten bytes in that order, then the trailer. Flushed before the trailer is written, and after.
function writeRecord(handle, seq, lengths, overwrites, beforeTrailer) {
  const header = new TextEncoder().encode(JSON.stringify({
    seq,
    lengths: Object.fromEntries(lengths),
    writes: overwrites.map(([path, at, bytes]) => [path, at, bytes.length]),
  }));
  const size = new Uint8Array(4);
  new DataView(size.buffer).setUint32(0, header.length, true);
  handle.truncate(0);
  handle.write(size, { at: 0 });
  handle.write(header, { at: 4 });
  let at = 4 + header.length;
  for (const [, , bytes] of overwrites) {
    handle.write(bytes, { at });
    at += bytes.length;
  }
  handle.flush();
  beforeTrailer();
  const trailer = new DataView(new ArrayBuffer(TRAILER));
  trailer.setUint32(0, MAGIC, true);
  trailer.setUint32(4, seq, true);
  handle.write(new Uint8Array(trailer.buffer), { at });
  handle.flush();
}

function readRecord(handle) {
  const size = handle.getSize();
  if (size < 4 + TRAILER) return null;
  const head = new DataView(new ArrayBuffer(4));
  handle.read(head, { at: 0 });
  const headerLength = head.getUint32(0, true);
  if (4 + headerLength + TRAILER > size) return null;
  const header = new Uint8Array(headerLength);
  handle.read(header, { at: 4 });
  let record;
  try {
    record = JSON.parse(new TextDecoder().decode(header));
  } catch {
    return null;
  }
  const dataLength = record.writes.reduce((sum, [, , length]) => sum + length, 0);
  const end = 4 + headerLength + dataLength;
  if (end + TRAILER !== size) return null;
  const trailer = new DataView(new ArrayBuffer(TRAILER));
  handle.read(trailer, { at: end });
  if (trailer.getUint32(0, true) !== MAGIC || trailer.getUint32(4, true) !== record.seq) return null;
  let at = 4 + headerLength;
  record.writes = record.writes.map(([path, offset, length]) => {
    const bytes = new Uint8Array(length);
    handle.read(bytes, { at });
    at += length;
    return [path, offset, bytes];
  });
  return record;
}

class Halted extends Error {}

const message = (error) => String(error && error.message || error);

// Serve `port` while this worker lives; resolves (releasing the lock for the next writer) only when the
// files cannot be opened.
async function serve(port, name) {
  let root;
  try {
    if (typeof FileSystemSyncAccessHandle === "undefined") throw new Error("no OPFS sync access handles");
    root = await navigator.storage.getDirectory();
  } catch (error) {
    port.postMessage({ type: "unsupported", error: message(error) });
    return;
  }
  const journal = await openJournal(root, name).catch((error) => {
    port.postMessage({ type: "failed", error: message(error) });
    return null;
  });
  if (journal === null) return;
  // One message at a time, in order: a save never interleaves with another. A halted writer's queue stays
  // rejected: nothing after the halt runs.
  let queue = Promise.resolve();
  port.onmessage = ({ data }) => {
    queue = queue.then(() => answer(journal, port, data));
    queue.catch(() => {});
  };
  port.postMessage({ type: "active" });
  await new Promise(() => {});
}

// The previous writer's files may still be closing when its lock is released (its worker ends with its
// page): opening one of them then fails for a moment. So a failure is retried for a few seconds before
// it counts; a writer that gives up answers "failed", never "unsupported", since falling back to
// IndexedDB would start from other, older files.
const OPEN_ATTEMPTS = 30;
const OPEN_RETRY_MS = 100;

async function openJournal(root, name) {
  for (let attempt = 1; ; attempt++) {
    const journal = new Journal(await root.getDirectoryHandle(name, { create: true }));
    try {
      await journal.open();
      return journal;
    } catch (error) {
      journal.close();
      if (attempt >= OPEN_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS));
    }
  }
}

async function answer(journal, port, { type, id, files, deleted, haltAt }) {
  if (type === "load") {
    const loaded = journal.load();
    port.postMessage({ type: "loaded", id, files: loaded }, loaded.map(({ bytes }) => bytes.buffer));
  } else if (type === "save") {
    try {
      await journal.save(files, deleted, haltAt);
      port.postMessage({ type: "saved", id });
    } catch (error) {
      if (error instanceof Halted) {
        port.onmessage = null;
        throw error;
      }
      port.postMessage({ type: "save-failed", id, error: String(error && error.message || error) });
    }
  }
}

onmessage = ({ data, ports: [port] }) => {
  if (data?.type !== "port") return;
  const name = data.name ?? NAME;
  // Held until this worker ends (its page closed): the next writer in line then gets it.
  navigator.locks.request(name, () => serve(port, name));
};
