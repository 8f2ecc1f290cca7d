"""What the two in-Pyodide runs share on the host side (``test_in_pyodide.py`` under Node,
``test_in_chromium.py`` in headless Chromium): which tests run, how many must pass, whether ``web/dist`` is
there and current, and how to read pytest's summary line.
"""

import re
import zipfile

from helpers import REPO

DIST = REPO / "web" / "dist"
CORE_TESTS = ["tests/store", "tests/api", "tests/replicator", "tests/http", "tests/tab", "tests/pyodide"]
# Fewer means tests were silently dropped (a collection problem); 1369 pass as of this writing.
MIN_PASSED = 1300
# Seconds one pytest run inside Pyodide may take, set-up included.
RUN_TIMEOUT = 600
# The files a run copies into Pyodide, as harness.mjs's TEST_ROOT, SKIP_DIRS and CONFIG say.
TEST_ROOT = "tests"
SKIP_DIRS = {"node_modules", "__pycache__"}
CONFIG = "pyproject.toml"


def dist_missing_reason():
    if not (DIST / "pyodide-lock.json").exists() or not list(DIST.glob("browsercouch-*.whl")):
        return "web/dist is missing: run `python build.py` to build the offline Pyodide dist"
    return None


def wheel_is_current():
    """Whether the browsercouch wheel in web/dist holds exactly the source tree's modules and the query
    server's JavaScript."""
    def compared(name):
        return name.endswith(".py") or name.startswith("browsercouch/store/couchjs/")

    with zipfile.ZipFile(max(DIST.glob("browsercouch-*.whl"))) as wheel:
        shipped = {name: wheel.read(name) for name in wheel.namelist() if compared(name)}
    package = REPO / "browsercouch"
    source = {path.relative_to(REPO).as_posix(): path.read_bytes()
              for path in [*package.rglob("*.py"), *(package / "store" / "couchjs").glob("*.js")]}
    return shipped == source


def repo_files():
    """Paths, relative to the repository root, of the files a run copies into Pyodide's ``/repo``."""
    files = [CONFIG]
    for path in sorted((REPO / TEST_ROOT).rglob("*.py")):
        parts = path.relative_to(REPO).parts
        if not any(part in SKIP_DIRS or part.startswith(".") for part in parts[:-1]):
            files.append("/".join(parts))
    return files


def summary(output):
    """pytest's last ``N passed``/``N failed`` line in ``output``, or ``""``."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return lines[-1] if lines else ""


def count(summary_line, outcome):
    """How many tests had ``outcome`` (``passed``, ``skipped``, ...) in a summary line; 0 if not named."""
    match = re.search(rf"(\d+) {outcome}", summary_line)
    return int(match[1]) if match else 0
