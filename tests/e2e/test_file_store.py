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
