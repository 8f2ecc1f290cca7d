"""QuickJS, compiled to WebAssembly, as the tab's JavaScript engine for design functions.

The worker loads it (``web/quickjs-engine.js``, from npm's ``quickjs-emscripten-core`` vendored into the
bundle) and hands it to ``open_tab``; this module puts it behind the engine contract of
``store.query_server`` (``new_context``, ``context.call``, ``context.close``), mapping its errors to the
core's. Calls are synchronous, as the contract wants: QuickJS runs on the worker's thread, like SQLite.
QuickJS is the engine CouchDB 3.4 runs; natively browsercouch uses V8 (``browsercouch.jsengine``).
"""

from pyodide.ffi import JsException

from ..errors import JsEngineError, JsOutOfMemory, JsTimeout

__all__ = ["QuickJSEngine"]

# The names quickjs-engine.js gives its errors; any other is a JsEngineError.
ERRORS = {"QuickJSTimeout": JsTimeout, "QuickJSOutOfMemory": JsOutOfMemory}


def _run(method, *args):
    try:
        return method(*args)
    except JsException as error:
        kind = ERRORS.get(error.name)
        raise (kind() if kind is not None else JsEngineError(str(error.message))) from None


class QuickJSEngine:
    """Contexts of ``engine``, the object ``loadQuickJS()`` of quickjs-engine.js resolved to."""

    def __init__(self, engine):
        self._engine = engine

    def new_context(self, script, timeout_ms, memory_limit):
        return _Context(_run(self._engine.newContext, script, timeout_ms, memory_limit))


class _Context:
    """One QuickJS runtime with ``script`` evaluated in it."""

    def __init__(self, context):
        self._context = context

    def call(self, name, text):
        """``name(text)``: a global function of the script called with one string, answering one."""
        return _run(self._context.call, name, text)

    def close(self):
        self._context.close()
