"""Controls for the in-Pyodide runs (``test_in_pyodide.py`` and ``test_in_chromium.py`` set these
variables; by default both tests pass).

- ``BROWSERCOUCH_PYODIDE_CONTROL=fail`` makes ``test_control`` fail: proves a failure turns the run red.
- ``BROWSERCOUCH_PYODIDE_EXPECT`` makes ``test_runs_where_expected`` check that it runs inside Pyodide,
  not in a CPython that the harness fell back to: ``1`` for any Pyodide, ``node`` for Pyodide under Node,
  ``chromium`` for Pyodide in a Chromium Web Worker.
"""

import os
import sys


def test_control():
    assert os.environ.get("BROWSERCOUCH_PYODIDE_CONTROL") != "fail", "deliberate failure (control)"


def _runtime():
    """``node``, ``chromium`` (a worker in Chromium) or ``unknown``, from the JavaScript global scope."""
    import js

    release = getattr(getattr(js, "process", None), "release", None)
    if release is not None and release.name == "node":
        return "node"
    navigator = getattr(js, "navigator", None)
    if hasattr(js, "WorkerGlobalScope") and navigator is not None and "Chrome/" in navigator.userAgent:
        return "chromium"
    return "unknown"


def test_runs_where_expected():
    expected = os.environ.get("BROWSERCOUCH_PYODIDE_EXPECT")
    if not expected:
        return
    assert sys.platform == "emscripten"
    import browsercouch

    # The wheel installed from web/dist, not a source tree on sys.path.
    assert "site-packages" in browsercouch.__file__
    if expected != "1":
        assert _runtime() == expected
