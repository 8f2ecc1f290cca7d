"""The core test suite inside Pyodide in headless Chromium, offline, from ``web/dist`` (``python build.py``).

The same run as ``test_in_pyodide.py`` (Node), in a browser: a static server on 127.0.0.1 serves the
repository; Selenium opens ``chromium.html``, which runs pytest inside Pyodide in a module Web Worker
(``chromium_worker.mjs``, sharing ``harness.mjs`` with the Node runner) and keeps the output and exit code
for us to poll. Each run gets a fresh worker, so a fresh Pyodide; the browser and the server are shared.

Nothing may leave the loopback server: every response carries a Content-Security-Policy that allows only
its own origin, the worker refuses any other fetch itself, Chromium resolves no host name (only the
127.0.0.1 literal works), and a refused request fails the test (``blocked``). The server answers only for
the files a run needs (``test_static_server_...`` checks that, and the MIME types Pyodide needs).
"""

import functools
import os
import posixpath
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import chromium
import pytest
from helpers import REPO, http
from pyodide_runs import (
    CORE_TESTS,
    MIN_PASSED,
    RUN_TIMEOUT,
    count,
    dist_missing_reason,
    repo_files,
    summary,
    wheel_is_current,
)

PAGE = "tests/pyodide/chromium.html"
# What the static server answers for: Pyodide with its wheels, the tests with their harness, the config,
# the tab's QuickJS engine (harness.mjs: QUICKJS_ENGINE) with its vendored modules.
SERVED_DIRS = ("/web/dist/", "/tests/", "/browsercouch/extension/app/vendor/quickjs/")
SERVED_FILES = ("/pyproject.toml", "/browsercouch/extension/app/quickjs-engine.js")
# Same origin only; wasm compilation needs 'wasm-unsafe-eval' (DESIGN.md section 4), nothing needs eval.
CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; worker-src 'self'; "
       "base-uri 'none'; form-action 'none'")
# Defence in depth behind the CSP: every host but 127.0.0.1 (the server) fails to resolve.
NO_DNS = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
# harness.mjs's timings, in the order they happen.
STAGES = ("load", "packages", "files", "tests")
POLL_INTERVAL = 0.5
PAGE_READY_TIMEOUT = 30


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
        ".json": "application/json", ".py": "text/x-python", ".toml": "text/plain",
    }

    def send_head(self):
        path = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        if not path.startswith(SERVED_DIRS) and path not in SERVED_FILES:
            self.send_error(404, "not served to the in-Chromium test run")
            return None
        return super().send_head()

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format, *args):
        pass


class StaticServer:
    """The repository over HTTP on 127.0.0.1, on a free port, in a thread; ``url`` ends in ``/``."""

    def __init__(self):
        handler = functools.partial(_Handler, directory=str(REPO))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="static-server", daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class PyodideRun:
    """A Chromium tab on ``chromium.html``; ``__call__(*args, **env)`` runs pytest inside Pyodide there."""

    def __init__(self, browser, url):
        self.browser = browser
        browser.get(url + PAGE)
        deadline = time.monotonic() + PAGE_READY_TIMEOUT
        while not browser.execute_script("return window.pyodideHarness !== undefined"):
            if time.monotonic() > deadline:
                raise AssertionError(f"{PAGE} did not load: {self.console()}")
            time.sleep(0.1)

    def __call__(self, *args, **env):
        """Run ``pytest -p no:cacheprovider ARGS`` inside Pyodide with ``env`` (and the host's
        ``BROWSERCOUCH_PYODIDE_*`` variables) in ``os.environ``. Returns the page's result:
        ``{code, output, timings, error, blocked}`` (see ``chromium.mjs``)."""
        env = {**{k: v for k, v in os.environ.items() if k.startswith("BROWSERCOUCH_PYODIDE_")}, **env}
        self.browser.execute_script("window.pyodideHarness.start(arguments[0])", {
            "args": ["-p", "no:cacheprovider", *args], "env": env, "files": repo_files()})
        deadline = time.monotonic() + RUN_TIMEOUT
        while not self.browser.execute_script("return window.pyodideHarness.status().done"):
            if time.monotonic() > deadline:
                result = self.browser.execute_script("return window.pyodideHarness.result()")
                raise AssertionError(f"no result after {RUN_TIMEOUT} s; output so far:\n"
                                     f"{result['output'][-20000:]}\n{self.console()}")
            time.sleep(POLL_INTERVAL)
        return self.browser.execute_script("return window.pyodideHarness.result()")

    def console(self):
        return "\n".join(entry["message"] for entry in self.browser.get_log("browser"))


@pytest.fixture(scope="module")
def chromium_run(tmp_path_factory):
    reason = chromium.missing_reason() or dist_missing_reason()
    if reason:
        pytest.skip(reason)
    if not wheel_is_current():
        pytest.fail("web/dist's browsercouch wheel differs from the source: run `python build.py`")
    server = StaticServer()
    browser = chromium.launch(tmp_path_factory.mktemp("chromium-profile"), NO_DNS)
    try:
        yield PyodideRun(browser, server.url)
    finally:
        browser.quit()
        server.stop()


def _report(result):
    """Everything a failure message needs: set-up error, refused requests, the end of the output."""
    return f"error: {result['error']}\nblocked: {result['blocked']}\n{result['output'][-20000:]}"


@pytest.mark.native
def test_static_server_serves_what_a_run_needs_and_nothing_else():
    server = StaticServer()
    try:
        for path, content_type in [("web/dist/pyodide.asm.wasm", "application/wasm"),
                                   ("browsercouch/extension/app/vendor/quickjs/release-sync/emscripten-module.wasm",
                                    "application/wasm"),
                                   ("tests/pyodide/harness.mjs", "text/javascript"), (PAGE, "text/html")]:
            status, headers, _ = http("GET", server.url + path)
            assert (status, headers.get_content_type()) == (200, content_type), path
            assert headers["Content-Security-Policy"] == CSP
        for path in ["README.md", "browsercouch/__init__.py", "tests/../README.md", "tests/%2e%2e/README.md",
                     "web/index.html"]:
            assert http("GET", server.url + path)[0] == 404, path
    finally:
        server.stop()


@pytest.mark.chromium
@pytest.mark.slow
def test_a_failing_test_inside_pyodide_in_chromium_turns_the_run_red(chromium_run):
    result = chromium_run("-q", "tests/pyodide/test_harness_control.py",
                          BROWSERCOUCH_PYODIDE_CONTROL="fail", BROWSERCOUCH_PYODIDE_EXPECT="chromium")
    assert result["code"] == 1, _report(result)
    assert "1 failed, 1 passed" in summary(result["output"]), _report(result)
    assert "deliberate failure (control)" in result["output"]
    assert result["blocked"] == [], _report(result)


@pytest.mark.chromium
@pytest.mark.slow
def test_core_suite_passes_inside_pyodide_in_chromium(chromium_run):
    result = chromium_run("-q", *CORE_TESTS, BROWSERCOUCH_PYODIDE_EXPECT="chromium")
    line = summary(result["output"])
    print(line)
    if result["timings"]:
        print("in chromium: " + ", ".join(f"{stage} {result['timings'][stage]:.1f} s" for stage in STAGES))
    assert result["code"] == 0, _report(result)
    assert result["blocked"] == [], _report(result)
    assert count(line, "passed") >= MIN_PASSED, line
