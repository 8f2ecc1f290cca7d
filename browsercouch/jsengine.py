"""V8 through PyPI's ``mini-racer``: the JavaScript engine the native server gives its ``Couch``.

Design functions (map, reduce, ``validate_doc_update``, filters) run in a JavaScript engine the core
receives as an object (``store.query_server``: ``new_context(script, timeout_ms, memory_limit)``,
``context.call(name, text)``, ``context.close()``); the core never imports an engine, so the tab hands
it another: QuickJS compiled to WebAssembly (``browsercouch.tab.quickjs``, npm's
``quickjs-emscripten-core``), the engine CouchDB 3.4 runs (the tab's view builds ran at 12,300 docs/s
against the native server's 19,600 in one run: README "Views and JavaScript design functions").

Why mini-racer (V8), measured 2026-12: PyPI's ``quickjs`` (the engine CouchDB 3.4 runs) has no wheels
for CPython 3.13 or 3.14; ``mini-racer`` 0.14 ships ``py3-none`` wheels for Linux (x86_64, aarch64),
macOS (x86_64, arm64) and Windows, so one wheel serves every CPython from 3.11 on. It is maintained, it
isolates each context in its own V8 isolate (no ``fetch``, ``require``, ``process`` or file access:
plain ECMAScript), and it enforces a time limit per call and a heap limit per isolate, raising instead
of hanging or crashing. A call costs ~0.1 ms, so the query server batches documents into one call.
"""

import sys
from concurrent.futures import ThreadPoolExecutor

from py_mini_racer import JSOOMException, JSTimeoutException, MiniRacer

from .errors import JsEngineError, JsOutOfMemory, JsTimeout

__all__ = ["MiniRacerEngine"]


class MiniRacerEngine:
    """Contexts on V8 isolates."""

    def __init__(self):
        # Isolates stopped by a time-out, closed when the next context is made.
        self._retired = []

    def new_context(self, script, timeout_ms, memory_limit):
        while self._retired:
            _close_quietly(self._retired.pop())
        return _Context(script, timeout_ms, memory_limit, self._retired)


def _close_quietly(racer):
    """Close an isolate whose last call timed out. Freeing it reports the cancelled call to mini-racer's
    event loop, stopped by then, which Python would print as "Exception ignored ... Event loop is
    closed"; that one message is dropped, any other goes to the usual hook."""
    usual = sys.unraisablehook

    def hook(unraisable):
        if not (isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(
                unraisable.exc_value)):
            usual(unraisable)

    sys.unraisablehook = hook
    try:
        racer.close()
    finally:
        sys.unraisablehook = usual


def _new_racer():
    """A ``MiniRacer`` with its own event loop thread. Made on a running loop (the server's), it would
    adopt that loop and then refuse synchronous calls with a time limit; made off it, a synchronous
    call waits for V8 on mini-racer's thread, and the limit holds."""
    with ThreadPoolExecutor(1, thread_name_prefix="mini-racer") as pool:
        return pool.submit(MiniRacer).result()


class _Context:
    """One isolate with ``script`` evaluated in it. After a time-out or running out of memory it is
    closed (an isolate left over the heap limit hangs the interpreter at exit) and must be replaced."""

    def __init__(self, script, timeout_ms, memory_limit, retired):
        self._timeout, self._memory, self._retired = timeout_ms, memory_limit, retired
        self._racer = _new_racer()
        self._run(self._racer.eval, script)

    def call(self, name, text):
        """``name(text)``: a global function of the script called with one string, answering one."""
        return self._run(self._racer.call, name, text)

    def _run(self, method, *args):
        try:
            return method(*args, timeout=self._timeout, max_memory=self._memory)
        except JSTimeoutException:
            self._retired.append(self._racer)
            self._racer = None
            raise JsTimeout() from None
        except JSOOMException:
            self.close()
            raise JsOutOfMemory() from None
        except Exception as err:  # mini-racer's other JS errors: a broken script, not a design function
            raise JsEngineError(str(err)) from None

    def close(self):
        if self._racer is not None:
            self._racer.close()
            self._racer = None
        while self._retired:
            _close_quietly(self._retired.pop())
