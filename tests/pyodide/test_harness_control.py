"""Controls for the in-Pyodide run (``test_in_pyodide.py`` sets these variables; by default both pass).

- ``BROWSERCOUCH_PYODIDE_CONTROL=fail`` makes ``test_control`` fail: proves a failure turns the run red.
- ``BROWSERCOUCH_PYODIDE_EXPECT=1`` makes ``test_runs_where_expected`` check that it runs inside Pyodide,
  not in a CPython that the harness fell back to.
"""

import os
import sys


def test_control():
    assert os.environ.get("BROWSERCOUCH_PYODIDE_CONTROL") != "fail", "deliberate failure (control)"


def test_runs_where_expected():
    if os.environ.get("BROWSERCOUCH_PYODIDE_EXPECT") == "1":
        assert sys.platform == "emscripten"
        import browsercouch

        # The wheel installed from web/dist, not a source tree on sys.path.
        assert "site-packages" in browsercouch.__file__
