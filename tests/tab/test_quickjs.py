"""The tab's JavaScript engine (``tab/quickjs.py`` over ``web/quickjs-engine.js``) keeps the engine contract
of ``store/query_server.py``: answers, a time limit that stops a loop and leaves the context usable, the
core's errors for what QuickJS throws, and contexts that share nothing. Inside Pyodide only, where the
harness loads the bundle's QuickJS (tests/pyodide/harness.mjs); the view tests (tests/api/test_views.py)
run the query server in it."""

import sys

import pytest

from browsercouch.errors import JsEngineError, JsTimeout

if sys.platform != "emscripten":
    pytest.skip("the tab's QuickJS runs inside Pyodide only", allow_module_level=True)

import _browsercouch_quickjs  # noqa: E402  (the harness's: tests/pyodide/harness.mjs QUICKJS_MODULE)

from browsercouch.tab.quickjs import QuickJSEngine  # noqa: E402

SCRIPT = """
var calls = 0;
function echo(text) { calls += 1; return text + ":" + calls; }
function spin(text) { while (true) {} }
function fail(text) { throw new TypeError("no " + text); }
function globals(text) {
  return [typeof fetch, typeof importScripts, typeof setTimeout, typeof WebAssembly, typeof globalThis.self]
    .join(",");
}
"""
MIB = 1 << 20


@pytest.fixture
def engine():
    return QuickJSEngine(_browsercouch_quickjs.engine)


def test_calls_answer_and_contexts_share_nothing(engine):
    one, two = engine.new_context(SCRIPT, 1000, 64 * MIB), engine.new_context(SCRIPT, 1000, 64 * MIB)
    assert one.call("echo", "é😀") == "é😀:1"
    assert one.call("echo", "b") == "b:2"
    assert two.call("echo", "c") == "c:1"
    assert one.call("globals", "") == "undefined,undefined,undefined,undefined,undefined"
    one.close()
    two.close()


def test_a_loop_times_out_and_the_context_answers_again(engine):
    context = engine.new_context(SCRIPT, 200, 64 * MIB)
    with pytest.raises(JsTimeout):
        context.call("spin", "")
    assert context.call("echo", "a") == "a:1"
    context.close()


def test_errors_are_the_cores(engine):
    context = engine.new_context(SCRIPT, 1000, 64 * MIB)
    with pytest.raises(JsEngineError, match="TypeError: no x"):
        context.call("fail", "x")
    with pytest.raises(JsEngineError, match="SyntaxError"):
        engine.new_context("function (", 1000, 64 * MIB)
    context.close()
    with pytest.raises(JsEngineError, match="closed"):
        context.call("echo", "a")
