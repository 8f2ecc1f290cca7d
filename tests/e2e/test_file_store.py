"""``web/file-store.js`` in real Chromium: random commits, attachment-sized runs (saved as extents),
truncations and deletions, each saved to IndexedDB, must load back byte for byte in a second Pyodide."""

import pytest
from helpers import REPO

CHECK = (REPO / "tests" / "e2e" / "file_store_check.js").read_text()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_saved_files_load_back_exactly(app, seed):
    app.open()
    result = app.browser.execute_async_script(CHECK, f"file-store-check-{seed}", seed)
    assert "error" not in result, result["error"]
    assert result["checks"] == 10
    assert result["extents"] > 0, result  # long runs were saved as extents, not only as chunks
