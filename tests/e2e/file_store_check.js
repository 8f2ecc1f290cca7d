// Run by test_file_store.py in a page of the web app's origin (Selenium's execute_async_script): random
// writes, growth, truncation and deletion of files in one Pyodide's file system, each step saved by the
// store under test, web/file-store.js ("indexeddb") or web/opfs-files.js with its writer ("opfs"). Every
// few steps a second Pyodide loads the saved files, which must equal the live ones byte for byte.
// With "opfs", every few steps a save also halts at one of its steps, as a crash there would; a new writer
// must then load the files as they were before that save, or after it, and nothing in between.
// Answers {steps, checks, extents (the most cells kept as extents at once), halts: {step: count}} or
// {error}.
const [dbName, seed, kind, done] = arguments;

(async () => {
  const { loadPyodide } = await import("./dist/pyodide.mjs");
  const { openFileStore } = await import("./file-store.js");
  const { OpfsFiles } = await import("./opfs-files.js");
  const indexURL = new URL("./dist/", location.href).href;
  const [live, reader] = await Promise.all([loadPyodide({ indexURL }), loadPyodide({ indexURL })]);
  const FS = live.FS;
  const CHUNK = 64 * 1024;
  const DIR = "/data";
  const files = ["/data/a.couch", "/data/b.couch"];
  let state = seed >>> 0;
  const random = () => { // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n) => Math.floor(random() * n);
  const bytes = (n) => Uint8Array.from({ length: n }, () => below(256));
  const size = (path) => (FS.analyzePath(path).exists ? FS.stat(path).size : 0);
  const write = (path, at, data) => {
    const stream = FS.open(path, FS.analyzePath(path).exists ? "r+" : "w+");
    FS.write(stream, data, 0, data.length, at);
    FS.close(stream);
  };
  const read = (file) => (FS.analyzePath(file).exists ? FS.readFile(file) : null);
  const snapshot = () => new Map(files.map((file) => [file, read(file)]));
  const same = (want, got) => (want === null ? got === null
    : got !== null && got.length === want.length && got.every((byte, at) => byte === want[at]));

  // An OPFS writer of our own (its own lock and directory), and an OpfsFiles using it.
  let writer = null;
  async function opfsStore() {
    writer?.terminate();
    writer = new Worker(new URL("./opfs-writer.js", location.href), { type: "module" });
    const channel = new MessageChannel();
    writer.postMessage({ type: "port", name: dbName }, [channel.port1]);
    const store = new OpfsFiles();
    store.addWriter(channel.port2);
    if (!(await store.opened)) throw new Error("the OPFS writer is not supported here");
    return store;
  }
  const open = kind === "opfs" ? opfsStore : () => openFileStore(dbName);
  const close = (store) => store.db?.close();

  // What a fresh store loads equals `want` (a snapshot), file by file.
  async function loadsAs(store, want, what) {
    for (const file of files) {
      if (reader.FS.analyzePath(file).exists) reader.FS.unlink(file);
    }
    await store.loadInto(reader.FS);
    for (const file of files) {
      const got = reader.FS.analyzePath(file).exists ? reader.FS.readFile(file) : null;
      if (!same(want.get(file), got)) {
        throw new Error(`${what}: ${file} loaded ${got && got.length} bytes, not the ` +
                        `${want.get(file) && want.get(file).length} expected (or different ones)`);
      }
    }
  }

  FS.mkdirTree(DIR);
  let store = await open();
  store.track(FS, DIR);
  let checks = 0;
  let extents = 0;
  const halts = {};
  const HALTS = ["appended", "recorded", "committed", "applied"];
  const STEPS = 60;
  for (let step = 0; step < STEPS; step++) {
    const path = files[below(files.length)];
    const length = size(path);
    const op = below(10);
    const before = snapshot();
    if (op < 5 || length === 0) { // a commit: a few pages here and there
      for (let n = 1 + below(3); n > 0; n--) write(path, below(length + 4096), bytes(1 + below(9000)));
    } else if (op < 8) { // an attachment: a long run, inside the file or past its end
      write(path, below(length + CHUNK), bytes(CHUNK * (4 + below(40)) + below(CHUNK)));
    } else if (op < 9) { // a compaction, possibly followed by growth past the new end
      FS.truncate(path, below(length));
      if (below(2)) write(path, size(path) + below(3 * CHUNK), bytes(1 + below(9000)));
    } else { // a deleted database
      FS.unlink(path);
    }
    if (kind === "opfs" && step % 5 === 4) {
      const haltAt = HALTS[(step / 5 | 0) % HALTS.length];
      const { files: changed, deleted, transfer } = store.changes(FS, [path]);
      store.call({ type: "save", files: changed, deleted, haltAt }, transfer);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the writer halts: no answer comes
      const after = snapshot();
      store = await open(); // a new writer after the crash: it recovers the journal
      await loadsAs(store, ["appended", "recorded"].includes(haltAt) ? before : after, `halted ${haltAt}`);
      halts[haltAt] = (halts[haltAt] ?? 0) + 1;
      store.track(FS, DIR);
      await store.save(FS, files); // a new store saves whole what it has no record of
    } else {
      await store.save(FS, [path]);
    }
    const cells = [...(store.extents?.values() ?? [])].reduce((sum, kept) => sum + kept.size, 0);
    extents = Math.max(extents, cells);
    if (step % 6 === 5 || step === STEPS - 1) {
      const loaded = kind === "opfs" ? store : await open();
      await loadsAs(loaded, snapshot(), `step ${step}`);
      if (loaded !== store) close(loaded);
      checks++;
    }
  }
  writer?.terminate();
  return { steps: STEPS, checks, extents, halts };
})().then(done, (error) => done({ error: String(error && error.stack || error) }));
