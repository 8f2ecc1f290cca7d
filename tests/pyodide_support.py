"""What the test suite needs when it runs inside Pyodide (``sys.platform == "emscripten"``), see
``tests/pyodide/run_in_pyodide.mjs``. Imported by ``conftest.py`` only there.

- ``SyncLoop``: an asyncio event loop that runs without JavaScript's help. Pyodide's own ``WebLoop`` cannot
  ``run_until_complete`` unless the JavaScript runtime supports WebAssembly stack switching (JSPI), which
  Node 20 does not; the tests drive their coroutines with ``asyncio.run`` and ``run_until_complete``. The
  core tests use no file descriptors (the ``pipe`` transport is in memory), so this loop watches none: it
  sleeps until the next timer is due. ``install()`` makes ``asyncio.new_event_loop()`` return one.
- ``skip_reason(item)``: why a test cannot run inside Pyodide (it needs a socket, a thread, a subprocess,
  uvicorn, Node or a browser to drive), or ``None``.
"""

import asyncio
import selectors
import time
import warnings
from asyncio import selector_events

# Fixtures that start servers as subprocesses on 127.0.0.1 (conftest.py).
SERVER_FIXTURES = {"browsercouch_server", "browsercouch_factory", "pouchdb_server", "couch_url"}
NATIVE_REASON = "needs sockets, threads or subprocesses: not available inside Pyodide"
# Tests marked ``chromium`` drive a browser from the host (tests/pyodide/test_in_chromium.py).
CHROMIUM_REASON = "drives headless Chromium through Selenium: not available inside Pyodide"
# Tests that fail inside Pyodide because of a known bug not fixed yet, by node id prefix.
KNOWN_BUGS = {
}


class _IdleSelector(selectors.BaseSelector):
    """A selector with nothing to watch: ``select`` sleeps out the timeout and reports no events."""

    def __init__(self):
        self._map = {}

    def register(self, fileobj, events, data=None):
        raise OSError(f"no file descriptors can be watched inside Pyodide ({fileobj!r})")

    def unregister(self, fileobj):
        raise KeyError(fileobj)

    def select(self, timeout=None):
        if timeout is None:
            raise RuntimeError("the event loop would wait forever: no callback or timer is scheduled")
        if timeout > 0:
            time.sleep(timeout)
        return []

    def get_map(self):
        return self._map

    def close(self):
        pass


class SyncLoop(selector_events.BaseSelectorEventLoop):
    def __init__(self):
        super().__init__(_IdleSelector())

    # No self-pipe: nothing runs in another thread, so nothing needs to wake the loop.
    def _make_self_pipe(self):
        pass

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        pass


def install():
    """Run asyncio on ``SyncLoop``: undo what Pyodide sets up for its ``WebLoop`` (``asyncio.run`` patched
    to use it, a policy that makes one, the WebLoop registered as already running)."""
    asyncio.run = asyncio.runners.run
    asyncio.events._set_running_loop(None)
    # Policies are deprecated since Python 3.14, but asyncio.run and new_event_loop still consult them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)

        class SyncLoopPolicy(asyncio.DefaultEventLoopPolicy):
            def new_event_loop(self):
                return SyncLoop()

        asyncio.set_event_loop_policy(SyncLoopPolicy())


def skip_reason(item):
    for prefix, reason in KNOWN_BUGS.items():
        if item.nodeid.startswith(prefix):
            return reason
    if "node" in item.keywords or SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return NATIVE_REASON
    if item.get_closest_marker("native"):
        return NATIVE_REASON
    if item.get_closest_marker("chromium"):
        return CHROMIUM_REASON
    params = getattr(getattr(item, "callspec", None), "params", {})
    if any(isinstance(value, str) and ("uvicorn" in value or value == "tcp") for value in params.values()):
        return "over TCP (uvicorn): not available inside Pyodide"
    return None
