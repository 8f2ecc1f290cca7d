"""The core test suite inside Pyodide under Node, offline, from ``web/dist`` (``python build.py`` builds it).

``run_in_pyodide.mjs`` runs pytest inside Pyodide on ``CORE_TESTS``; tests that need sockets, threads,
subprocesses, uvicorn or Node skip themselves there (``tests/pyodide_support.py``). The control test first
shows that a failing test inside Pyodide turns the run red.
"""

import os
import re
import shutil
import subprocess
import zipfile

import pytest
from helpers import REPO

HARNESS = REPO / "tests" / "pyodide" / "run_in_pyodide.mjs"
DIST = REPO / "web" / "dist"
CORE_TESTS = ["tests/store", "tests/api", "tests/replicator", "tests/http", "tests/pyodide"]
# Fewer means tests were silently dropped (a collection problem); 1353 pass as of this writing.
MIN_PASSED = 1300
RUN_TIMEOUT = 600

pytestmark = pytest.mark.node


def _missing_reason():
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (DIST / "pyodide-lock.json").exists() or not list(DIST.glob("browsercouch-*.whl")):
        return "web/dist is missing: run `python build.py` to build the offline Pyodide dist"
    return None


def _wheel_is_current():
    """Whether the browsercouch wheel in web/dist holds exactly the source tree's modules."""
    with zipfile.ZipFile(max(DIST.glob("browsercouch-*.whl"))) as wheel:
        shipped = {name: wheel.read(name) for name in wheel.namelist() if name.endswith(".py")}
    source = {path.relative_to(REPO).as_posix(): path.read_bytes()
              for path in (REPO / "browsercouch").rglob("*.py")}
    return shipped == source


@pytest.fixture(scope="module")
def pyodide_run():
    reason = _missing_reason()
    if reason:
        pytest.skip(reason)
    if not _wheel_is_current():
        pytest.fail("web/dist's browsercouch wheel differs from the source: run `python build.py`")

    def run(*args, **env):
        result = subprocess.run(["node", HARNESS, "-p", "no:cacheprovider", *args], cwd=REPO,
                                env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=RUN_TIMEOUT)
        return result.returncode, result.stdout + result.stderr

    return run


def _summary(output):
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return lines[-1] if lines else ""


def test_a_failing_test_inside_pyodide_turns_the_run_red(pyodide_run):
    code, output = pyodide_run("-q", "tests/pyodide/test_harness_control.py",
                               BROWSERCOUCH_PYODIDE_CONTROL="fail", BROWSERCOUCH_PYODIDE_EXPECT="1")
    assert code == 1, output
    assert "1 failed, 1 passed" in _summary(output), output
    assert "deliberate failure (control)" in output


def test_core_suite_passes_inside_pyodide(pyodide_run):
    code, output = pyodide_run("-q", *CORE_TESTS, BROWSERCOUCH_PYODIDE_EXPECT="1")
    summary = _summary(output)
    print(summary)
    print(next((line for line in output.splitlines() if line.startswith("run_in_pyodide:")), ""))
    assert code == 0, output[-20000:]
    passed = int(re.search(r"(\d+) passed", summary)[1])
    assert passed >= MIN_PASSED, summary
