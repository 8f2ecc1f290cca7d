// The shared worker's side of the tab's files in OPFS: it notes the byte ranges written to the files in
// Emscripten's memory file system and sends them to the file writer (opfs-writer.js, which has the
// protocol) to be saved. Each page of the app runs a writer and hands it over (`addWriter`); the one
// that holds the lock says "active" and is used until another becomes active, which means the first
// one's page has gone: what was in flight is then sent again, the files of a save whole.
//
// `opened` resolves to the OpfsFiles once a writer is active, or to null when the first writer that
// answers finds no OPFS sync access handles (the caller then keeps the files in IndexedDB); it rejects
// when the first writer to answer cannot open the files.

import { WHOLE, fileContents, trackWrites } from "./file-store.js";

class WriterGone extends Error {}

export class OpfsFiles {
  constructor() {
    this.writer = null; // the active writer's port
    this.pending = new Map(); // request id -> {resolve, reject}
    this.nextId = 1;
    this.written = new Map(); // path -> [[from, to]] written since its last save, or WHOLE
    this.waiters = []; // calls waiting for a writer
    this.opened = new Promise((resolve, reject) => {
      this.answered = resolve;
      this.failed = reject;
    });
  }

  // A page's writer: its first message says whether it is active, unsupported or failed. A writer that
  // failed after the first became active is passed over: the next one in line takes the lock.
  addWriter(port) {
    port.onmessage = ({ data }) => {
      if (data.type === "active") this.activate(port);
      else if (data.type === "unsupported") this.answered(null);
      else if (data.type === "failed") this.failed(new Error(`the databases would not open: ${data.error}`));
      else this.settle(data);
    };
  }

  activate(port) {
    this.writer = port;
    const lost = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of lost) reject(new WriterGone());
    for (const resume of this.waiters.splice(0)) resume();
    this.answered(this);
  }

  settle({ type, id, error, files }) {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    if (type === "save-failed") call.reject(new Error(`saving the databases failed: ${error}`));
    else call.resolve(files);
  }

  async call(message, transfer = []) {
    if (!this.writer) await new Promise((resume) => this.waiters.push(resume));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.writer.postMessage({ ...message, id }, transfer);
    });
  }

  // Note the byte ranges written (or cut off and grown again) in files under `dir` from now on.
  track(FS, dir) {
    const note = (path, from, to) => {
      const ranges = this.written.get(path) ?? [];
      if (ranges === WHOLE) return;
      const last = ranges[ranges.length - 1];
      if (last && last[1] === from) last[1] = to;
      else ranges.push([from, to]);
      this.written.set(path, ranges);
    };
    trackWrites(FS, dir, note);
  }

  // Write every saved file into Emscripten's FS; returns their paths.
  async loadInto(FS) {
    for (;;) {
      try {
        const files = await this.call({ type: "load" });
        for (const { path, bytes } of files) {
          FS.mkdirTree(path.slice(0, path.lastIndexOf("/")) || "/");
          FS.writeFile(path, bytes);
          this.written.delete(path);
        }
        return files.map(({ path }) => path);
      } catch (error) {
        if (!(error instanceof WriterGone)) throw error;
      }
    }
  }

  // Save what changed in these files since their last save (a path that no longer exists is deleted),
  // all or nothing.
  async save(FS, paths) {
    for (;;) {
      const { files, deleted, transfer } = this.changes(FS, paths);
      try {
        return await this.call({ type: "save", files, deleted }, transfer);
      } catch (error) {
        for (const path of paths) this.written.set(path, WHOLE);
        if (!(error instanceof WriterGone)) throw error;
      }
    }
  }

  // The changed ranges of these files, copied out of the memory file system (and transferred).
  changes(FS, paths) {
    const files = [];
    const deleted = [];
    const transfer = [];
    for (const path of paths) {
      const ranges = this.written.get(path);
      this.written.delete(path);
      if (!FS.analyzePath(path).exists) {
        deleted.push(path);
        continue;
      }
      const data = fileContents(FS, path);
      const writes = [];
      const whole = ranges === undefined || ranges === WHOLE;
      for (const [from, to] of merged(whole ? [[0, data.length]] : ranges)) {
        if (from >= data.length) continue;
        const copy = data.slice(from, Math.min(to, data.length)).buffer;
        writes.push([from, copy]);
        transfer.push(copy);
      }
      files.push({ path, length: data.length, writes });
    }
    return { files, deleted, transfer };
  }
}

// Ranges sorted, with overlapping and touching ones joined.
function merged(ranges) {
  const joined = [];
  for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = joined[joined.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else joined.push([from, to]);
  }
  return joined;
}
