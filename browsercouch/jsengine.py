"""V8 through PyPI's ``mini-racer``: the JavaScript engine the native server gives its ``Couch``.

Design functions (map, reduce, ``validate_doc_update``, filters) run in a JavaScript engine the core
receives as an object (``store.query_server``: ``new_context(script, timeout_ms, memory_limit)``,
``context.call(name, text)``, ``context.close()``, and optionally ``await context.call_async(name,
text)``); the core never imports an engine, so the tab hands
it another: QuickJS compiled to WebAssembly (``browsercouch.tab.quickjs``, npm's
``quickjs-emscripten-core``), the engine CouchDB 3.4 runs (the two side by side: ``python build.py bench
queries``, and README "Views and JavaScript design functions").

Why mini-racer (V8), measured 2026-12: PyPI's ``quickjs`` (the engine CouchDB 3.4 runs) has no wheels
for CPython 3.13 or 3.14; ``mini-racer`` 0.14 ships ``py3-none`` wheels for Linux (x86_64, aarch64),
macOS (x86_64, arm64) and Windows, so one wheel serves every CPython from 3.11 on. It is maintained, it
isolates each context in its own V8 isolate (no ``fetch``, ``require``, ``process`` or file access:
plain ECMAScript), and it enforces a time limit per call and a heap limit per isolate, raising instead
of hanging or crashing. A call costs ~0.1 ms, so the query server batches documents into one call.

V8 runs on mini-racer's own thread. ``call`` waits for it; ``call_async`` waits on a worker thread, so
the server's event loop answers other requests meanwhile (an endless map function holds its isolate for
the 5 s time limit, not the server) and a view build maps its next batches while it writes one. Calls
on one context take turns (a lock): an isolate runs one call at a time. The function is called as a
function object with the text as its argument: ``MiniRacer.call`` would send it as JSON inside a script
to evaluate, which took 45% longer for a view build's batches.
"""

import asyncio
import sys
import threading
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
        self._timeout, self._retired = timeout_ms / 1000, retired
        self._functions = {}
        self._busy = threading.Lock()
        self._racer = _new_racer()
        self._racer.set_hard_memory_limit(memory_limit)
        self._run(lambda: self._racer.eval(script, timeout_sec=self._timeout))

    def call(self, name, text):
        """``name(text)``: a global function of the script called with one string, answering one."""
        with self._busy:
            return self._run(lambda: self._function(name)(text, timeout_sec=self._timeout))

    async def call_async(self, name, text):
        """``call`` without holding the caller's event loop: it waits for V8 on a worker thread."""
        return await asyncio.to_thread(self.call, name, text)

    def _function(self, name):
        function = self._functions.get(name)
        if function is None:
            function = self._functions[name] = self._racer.eval(name, timeout_sec=self._timeout)
        return function

    def _run(self, thunk):
        if self._racer is None:
            raise JsEngineError("the context is closed")
        try:
            return thunk()
        except JSTimeoutException:
            self._functions.clear()  # their handles are freed while the isolate lives
            self._retired.append(self._racer)
            self._racer = None
            raise JsTimeout() from None
        except Exception as err:
            # Over the heap limit, a script evaluated raises JSOOMException, a function called a plain
            # JSEvalException; the isolate says which.
            if isinstance(err, JSOOMException) or self._racer.was_hard_memory_limit_reached():
                self._close()
                raise JsOutOfMemory() from None
            raise JsEngineError(str(err)) from None  # a broken script, not a design function

    def close(self):
        """Close the isolate once a call in flight has ended (within its time limit): closed under it,
        the call's thread would wait forever for an answer."""
        with self._busy:
            self._close()

    def _close(self):
        self._functions.clear()
        if self._racer is not None:
            self._racer.close()
            self._racer = None
        while self._retired:
            _close_quietly(self._retired.pop())
