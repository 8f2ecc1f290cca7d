"""Design functions run as CouchDB runs them: its own JavaScript query server, in an injected engine.

CouchDB 3.4 talks to ``couchjs`` over the query server protocol
(https://docs.couchdb.org/en/stable/query-server/protocol.html): JSON lines in, JSON lines out. The
JavaScript half is CouchDB's own (``couchjs/``: ``share/server/*.js`` of Apache CouchDB 3.4.3, Apache
License 2.0, bundled as CouchDB bundles it for QuickJS, with ``browsercouch.js`` standing in for the C
parts of couchjs), so ``emit``, ``log``, ``sum``, ``toJSON``, ``isArray``, ``require`` and the errors
design functions see are CouchDB's. This module is the Erlang half (``couch_query_servers``,
``couch_os_process``): it sends the lines and reads the answers.

The engine is injected (``Couch(js_engine=...)``); the core never imports one. Its contract:

- ``engine.new_context(script, timeout_ms, memory_limit)``: a fresh JavaScript global with ``script``
  evaluated in it, no network, no storage;
- ``context.call(name, text) -> text``: call the global function ``name`` with one string; raises
  ``errors.JsTimeout`` past ``timeout_ms``, ``errors.JsOutOfMemory`` past ``memory_limit`` bytes (the
  context is then dead) or ``errors.JsEngineError``;
- ``context.close()``;
- optionally ``await context.call_async(name, text) -> text``: ``call`` that leaves the caller's event
  loop free while the engine runs (natively V8 runs on its own thread); the same answers and errors.
  Without it (the tab's QuickJS) the async paths below call ``call``.

As couchjs, there are contexts for ``ddoc`` commands (validation and filters; design documents are sent
once per revision) and for views (``reset``, ``add_fun``, ``map_doc``, ``reduce``). A view build maps in
``MAP_CONTEXTS`` contexts of its own, through ``call_async`` (``map_docs``, awaited), so the server
answers other requests while a map function runs (an endless one for the whole time limit) and, as
CouchDB runs a couchjs per shard, two batches can be mapped at once while a third is written. A view
query's JavaScript reduce is awaited too, in a context of its own. Validation, filters and the compile
check of a design document's functions are called synchronously from synchronous code. A
context whose call timed out, ran out of memory or hit a fatal error is thrown away and made anew on the
next call, as CouchDB kills and restarts its couchjs process. Lines travel in batches (one engine call
maps many documents): the time limit applies to each call.
"""

import asyncio
import functools
import importlib.resources
import json
import logging

from ..errors import (
    CompilationError,
    Forbidden,
    JsEngineError,
    NotFound,
    QueryServerError,
    Unauthorized,
)

__all__ = ["QueryServer", "DEFAULT_TIMEOUT_MS", "DEFAULT_MEMORY_LIMIT"]

log = logging.getLogger("browsercouch.couchjs")

# [query_server_config] os_process_timeout: 5 s per call.
DEFAULT_TIMEOUT_MS = 5000
# Heap per context; a map function building ever larger arrays is stopped here, not by the machine.
DEFAULT_MEMORY_LIMIT = 256 * 1024 * 1024
# The files of the script, in the order couch_quickjs/build_js.escript concatenates them.
SCRIPT_FILES = ("browsercouch.js", "rewrite_fun.js", "dreyfus.js", "nouveau.js", "filter.js", "mimeparse.js",
                "render.js", "state.js", "util.js", "validate.js", "views.js", "dispatch-quickjs.js")
ENTRY = "__browsercouch_dispatch"
DDOC, VIEW, REDUCE = "ddoc", "view", "reduce"
# Contexts a view build maps in, as many batches at a once (CouchDB's default two shards map in two
# couchjs processes). An engine without ``call_async`` only ever uses the first.
MAP_CONTEXTS = 2


@functools.cache
def script():
    """The query server's JavaScript, one text."""
    folder = importlib.resources.files(__package__) / "couchjs"
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in SCRIPT_FILES)


def erlang_reason(reason):
    """A non-string reason as CouchDB shows the Erlang term it became (an ``Error`` thrown is ``{}``,
    shown ``{[]}``); strings as they are."""
    if isinstance(reason, str):
        return reason
    if reason == {}:
        return "{[]}"
    return json.dumps(reason, separators=(",", ":"), ensure_ascii=False)


class QueryServer:
    """Runs design functions in contexts of ``engine``; see the module docstring."""

    def __init__(self, engine, *, timeout_ms=DEFAULT_TIMEOUT_MS, memory_limit=DEFAULT_MEMORY_LIMIT):
        self.engine = engine
        self.timeout_ms, self.memory_limit = timeout_ms, memory_limit
        self._contexts = {}
        self._ddocs = {}
        # The map functions loaded in each map context: the ``key`` of ``map_docs``.
        self._funs = {}
        self._free_maps = None

    def close(self):
        for kind in list(self._contexts):
            self._drop(kind)

    # -- the protocol -----------------------------------------------------------------------------------

    def _context(self, kind):
        context = self._contexts.get(kind)
        if context is None:
            context = self.engine.new_context(script(), self.timeout_ms, self.memory_limit)
            self._contexts[kind] = context
        return context

    def _drop(self, kind):
        context = self._contexts.pop(kind, None)
        if kind == DDOC:
            self._ddocs = {}
        self._funs.pop(kind, None)
        if context is not None:
            context.close()

    def prompt(self, kind, commands):
        """Send ``commands`` (protocol lines as Python lists) to the ``kind`` context; the answer of each.
        An ``["error", name, reason]`` answer raises (``QueryServerError``, or the named CouchDB error)."""
        return self._prompt_text(kind, _dumps(commands))

    def _prompt_text(self, kind, batch):
        """``prompt`` of commands already encoded: ``batch`` is the JSON text of their array."""
        context = self._context(kind)
        try:
            text = context.call(ENTRY, batch)
        except JsEngineError:
            self._drop(kind)
            raise
        return self._answers(kind, text)

    async def _prompt_text_async(self, kind, batch):
        """``_prompt_text`` through ``call_async`` where the context has it."""
        context = self._context(kind)
        call_async = getattr(context, "call_async", None)
        try:
            text = context.call(ENTRY, batch) if call_async is None else await call_async(ENTRY, batch)
        except JsEngineError:
            if self._contexts.get(kind) is context:
                self._drop(kind)
            raise
        return self._answers(kind, text)

    def _answers(self, kind, text):
        answers = []
        for keep, printed in json.loads(text):
            answer = self._answer(printed)
            if not keep:
                self._drop(kind)
            if isinstance(answer, list) and len(answer) == 3 and answer[0] == "error":
                raise _error(answer[1], answer[2])
            answers.append(answer)
        return answers

    @staticmethod
    def _answer(printed):
        """The last value a command printed; ``["log", message]`` lines go to the log."""
        answer = None
        for value in printed:
            if isinstance(value, list) and len(value) == 2 and value[0] == "log":
                log.info("%s", value[1])
            else:
                answer = value
        return answer

    def _ddoc_prompt(self, ddoc, path, args):
        doc_id, rev = ddoc["_id"], ddoc.get("_rev")
        commands = []
        if self._ddocs.get(doc_id) != rev or DDOC not in self._contexts:
            commands.append(["ddoc", "new", doc_id, ddoc])
        commands.append(["ddoc", doc_id, path, args])
        answers = self.prompt(DDOC, commands)
        self._ddocs[doc_id] = rev
        return answers[-1]

    # -- design functions -------------------------------------------------------------------------------

    def validate(self, ddoc, new_doc, old_doc, user_ctx, sec_obj):
        """Run ``ddoc``'s ``validate_doc_update``; raise ``Forbidden``/``Unauthorized`` (or CouchDB's
        ``unknown_error``) as ``couch_query_servers:validate_doc_update/6`` does."""
        answer = self._ddoc_prompt(ddoc, ["validate_doc_update"], [new_doc, old_doc, user_ctx, sec_obj])
        if answer in (1, True):
            return
        if isinstance(answer, dict) and len(answer) == 1:
            (name, message), = answer.items()
            if name == "forbidden":
                raise Forbidden(erlang_reason(message))
            if name == "unauthorized":
                raise Unauthorized(erlang_reason(message))
            raise QueryServerError(erlang_reason(message), error="unknown_error")
        raise QueryServerError(erlang_reason(answer), error="unknown_error")

    def filter(self, ddoc, name, docs, req):
        """Which of ``docs`` the filter function ``name`` of ``ddoc`` passes (a list of booleans)."""
        return self._ddoc_prompt(ddoc, ["filters", name], [docs, req])[1]

    def filter_view(self, ddoc, view, docs):
        """Which of ``docs`` make view ``view``'s map function emit (``filter=_view``)."""
        return self._ddoc_prompt(ddoc, ["views", view, "map"], [docs])[1]

    async def map_docs(self, key, lib, sources, doc_texts):
        """For each document (``doc_texts``: their JSON texts, passed on as they are), the
        ``[key, value]`` pairs each of the map ``sources`` emits, from the first free map context.
        ``key`` names the set of functions (a view signature), so they are compiled once per context
        while it stays."""
        if self._free_maps is None:
            self._free_maps = asyncio.LifoQueue()  # the last one freed first: a sync engine uses one
            for number in reversed(range(MAP_CONTEXTS)):
                self._free_maps.put_nowait(f"map{number}")
        kind = await self._free_maps.get()
        try:
            commands = []
            if self._funs.get(kind) != key or kind not in self._contexts:
                commands.append(["reset", {"reduce_limit": True}])
                if lib is not None:
                    commands.append(["add_lib", lib])
                commands.extend(["add_fun", source] for source in sources)
            # Unknown until the call answers: a call cancelled on its way may still load other ones.
            self._funs.pop(kind, None)
            encoded = [_dumps(command) for command in commands]
            encoded.extend('["map_doc",' + text + "]" for text in doc_texts)
            answers = await self._prompt_text_async(kind, "[" + ",".join(encoded) + "]")
            if kind in self._contexts:
                self._funs[kind] = key
            return answers[len(commands):]
        finally:
            self._free_maps.put_nowait(kind)

    async def reduce(self, sources, kvs):
        """``reduce`` of the query server: one result per source over ``[[key, id], value]`` pairs."""
        return (await self._prompt_text_async(REDUCE, _dumps([["reduce", sources, kvs]])))[0][1]

    async def rereduce(self, sources, values):
        return (await self._prompt_text_async(REDUCE, _dumps([["rereduce", sources, values]])))[0][1]

    def try_compile(self, kind, view_name, source):
        """Raise ``CompilationError`` as CouchDB does when a view's function does not compile."""
        try:
            self.prompt(VIEW, [["reset", {}], ["add_fun", source]])
        except QueryServerError as err:
            if err.error != "compilation_error":
                raise
            raise CompilationError(
                f"Compilation of the {kind} function in the '{view_name}' view failed: {err.reason}"
            ) from None


def _dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _error(name, reason):
    if name == "not_found":
        return NotFound(erlang_reason(reason))
    return QueryServerError(erlang_reason(reason), error=str(name))
