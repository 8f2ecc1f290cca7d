"""The tab's two file stores in real Chromium: random commits, attachment-sized runs, truncations (some
followed by growth past the new end) and deletions, each saved, must load back byte for byte in a second
Pyodide. ``web/file-store.js`` keeps them in IndexedDB (long runs as extents); ``web/opfs-files.js`` with
``web/opfs-writer.js`` in OPFS, where saves halted at each step of the writer's journal, as a crash there
would, must load as before the save (not yet committed) or after it (committed), never in between."""

import pytest
from helpers import REPO

CHECK = (REPO / "tests" / "e2e" / "file_store_check.js").read_text()


def run_check(app, kind, seed):
    app.open()
    result = app.browser.execute_async_script(CHECK, f"file-store-check-{kind}-{seed}", seed, kind)
    assert "error" not in result, result["error"]
    assert result["checks"] == 10
    return result


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_indexeddb_files_load_back_exactly(app, seed):
    result = run_check(app, "indexeddb", seed)
    assert result["extents"] > 0, result  # long runs were saved as extents, not only as chunks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_opfs_files_load_back_exactly_and_survive_halted_saves(app, seed):
    result = run_check(app, "opfs", seed)
    assert result["halts"] == {"appended": 3, "recorded": 3, "committed": 3, "applied": 3}, result


# A file of the writer's directory held open by another worker (as a closing writer's may be for a
# moment): a new writer retries, becomes active once the file is free and loads it; if it never is, the
# writer answers "failed" (`opened` rejects) and not "unsupported", which would switch to IndexedDB.
HELD_FILE_CHECK = """
const [name, holdMs, done] = arguments;
(async () => {
  const { OpfsFiles } = await import("./opfs-files.js");
  const startWriter = () => {
    const writer = new Worker(new URL("./opfs-writer.js", location.href), { type: "module" });
    const channel = new MessageChannel();
    writer.postMessage({ type: "port", name }, [channel.port1]);
    const files = new OpfsFiles();
    files.addWriter(channel.port2);
    return [writer, files];
  };
  const bytes = new Uint8Array([1, 2, 3, 4, 5]);
  const FS = { // just what OpfsFiles.save reads of one file
    analyzePath: () => ({ exists: true }),
    lookupPath: () => ({ node: { contents: bytes, usedBytes: bytes.length } }),
  };
  const [first, saver] = startWriter();
  await saver.opened;
  await saver.save(FS, ["/data/held.couch"]);
  first.terminate();
  await navigator.locks.request(name, () => {});
  const holder = new Worker(URL.createObjectURL(new Blob([`
    onmessage = async ({ data: [name, holdMs] }) => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(name);
      const file = await dir.getFileHandle(encodeURIComponent("/data/held.couch"));
      const handle = await file.createSyncAccessHandle();
      postMessage("held");
      if (holdMs >= 0) setTimeout(() => { handle.close(); postMessage("released"); }, holdMs);
    };`], { type: "text/javascript" })));
  await new Promise((resolve) => { holder.onmessage = resolve; holder.postMessage([name, holdMs]); });
  const [second, files] = startWriter();
  const started = performance.now();
  try {
    await files.opened;
  } catch (error) {
    return { failed: String(error.message), ms: performance.now() - started };
  }
  const loaded = {};
  const reader = { mkdirTree() {}, writeFile: (path, data) => { loaded[path] = Array.from(data); } };
  await files.loadInto(reader);
  second.terminate();
  holder.terminate();
  return { loaded, ms: performance.now() - started };
})().then(done, (error) => done({ error: String(error && error.stack || error) }));
"""


def test_opfs_writer_waits_for_a_file_still_open_then_fails_loudly(app):
    app.open()
    result = app.browser.execute_async_script(HELD_FILE_CHECK, "held-briefly", 500)
    assert result.get("loaded") == {"/data/held.couch": [1, 2, 3, 4, 5]}, result
    assert result["ms"] >= 400, result  # it did wait for the file
    result = app.browser.execute_async_script(HELD_FILE_CHECK, "held-for-good", -1)
    assert "would not open" in result.get("failed", ""), result
