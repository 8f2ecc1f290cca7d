"""The core test suite inside Pyodide under Node, offline, from ``web/dist`` (``python build.py`` builds it).

``run_in_pyodide.mjs`` runs pytest inside Pyodide on ``CORE_TESTS``; tests that need sockets, threads,
subprocesses, uvicorn or Node skip themselves there (``tests/pyodide_support.py``). The control test first
shows that a failing test inside Pyodide turns the run red. ``test_in_chromium.py`` does the same in
headless Chromium.
"""

import os
import shutil
import subprocess

import pytest
from helpers import REPO
from pyodide_runs import (
    CORE_TESTS,
    MIN_PASSED,
    RUN_TIMEOUT,
    count,
    dist_missing_reason,
    summary,
    wheel_is_current,
)

HARNESS = REPO / "tests" / "pyodide" / "run_in_pyodide.mjs"

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def pyodide_run():
    reason = "node is not on PATH" if shutil.which("node") is None else dist_missing_reason()
    if reason:
        pytest.skip(reason)
    if not wheel_is_current():
        pytest.fail("web/dist's browsercouch wheel differs from the source: run `python build.py`")

    def run(*args, **env):
        result = subprocess.run(["node", HARNESS, "-p", "no:cacheprovider", *args], cwd=REPO,
                                env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=RUN_TIMEOUT)
        return result.returncode, result.stdout + result.stderr

    return run


def test_a_failing_test_inside_pyodide_turns_the_run_red(pyodide_run):
    code, output = pyodide_run("-q", "tests/pyodide/test_harness_control.py",
                               BROWSERCOUCH_PYODIDE_CONTROL="fail", BROWSERCOUCH_PYODIDE_EXPECT="node")
    assert code == 1, output
    assert "1 failed, 1 passed" in summary(output), output
    assert "deliberate failure (control)" in output


def test_core_suite_passes_inside_pyodide(pyodide_run):
    code, output = pyodide_run("-q", *CORE_TESTS, BROWSERCOUCH_PYODIDE_EXPECT="node")
    line = summary(output)
    print(line)
    print(next((line for line in output.splitlines() if line.startswith("run_in_pyodide:")), ""))
    assert code == 0, output[-20000:]
    assert count(line, "passed") >= MIN_PASSED, line
