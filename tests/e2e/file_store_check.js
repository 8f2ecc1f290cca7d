// Run by test_file_store.py in a page of the web app's origin (Selenium's execute_async_script): random
// writes, growth, truncation and deletion of files in one Pyodide's file system, each step saved by
// web/file-store.js; every few steps a second Pyodide loads the saved files, which must equal the live
// ones byte for byte. Answers {steps, checks, extents} (the most cells kept as extents at once) or {error}.
const [dbName, seed, done] = arguments;

(async () => {
  const { loadPyodide } = await import("./dist/pyodide.mjs");
  const { openFileStore } = await import("./file-store.js");
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

  FS.mkdirTree(DIR);
  const store = await openFileStore(dbName);
  store.track(FS, DIR);
  let checks = 0;
  let extents = 0; // the most cells kept as extents at once
  const STEPS = 60;
  for (let step = 0; step < STEPS; step++) {
    const path = files[below(files.length)];
    const length = size(path);
    const op = below(10);
    if (op < 5 || length === 0) { // a commit: a few pages here and there
      for (let n = 1 + below(3); n > 0; n--) write(path, below(length + 4096), bytes(1 + below(9000)));
    } else if (op < 8) { // an attachment: a long run, inside the file or past its end
      write(path, below(length + CHUNK), bytes(CHUNK * (4 + below(40)) + below(CHUNK)));
    } else if (op < 9) { // a compaction: shorter, possibly inside an extent
      FS.truncate(path, below(length));
    } else { // a deleted database
      FS.unlink(path);
    }
    await store.save(FS, [path]);
    extents = Math.max(extents, [...store.extents.values()].reduce((sum, cells) => sum + cells.size, 0));
    if (step % 6 === 5 || step === STEPS - 1) {
      const loaded = await openFileStore(dbName);
      for (const file of files) {
        if (reader.FS.analyzePath(file).exists) reader.FS.unlink(file);
      }
      await loaded.loadInto(reader.FS);
      for (const file of files) {
        const want = FS.analyzePath(file).exists ? FS.readFile(file) : null;
        const got = reader.FS.analyzePath(file).exists ? reader.FS.readFile(file) : null;
        const same = want === null ? got === null
          : got !== null && got.length === want.length && got.every((byte, at) => byte === want[at]);
        if (!same) throw new Error(`step ${step}: ${file} loaded ${got && got.length} bytes, not ` +
                                   `the ${want && want.length} written (or different ones)`);
      }
      loaded.db.close();
      checks++;
    }
  }
  return { steps: STEPS, checks, extents };
})().then(done, (error) => done({ error: String(error && error.stack || error) }));
