// The JavaScript engine the tab runs design functions in (map, reduce, validate_doc_update, filters):
// QuickJS compiled to WebAssembly (vendor/quickjs/, npm's quickjs-emscripten-core with its synchronous
// release build), the engine CouchDB 3.4 runs. browsercouch/tab/quickjs.py wraps it for the core's query
// server (browsercouch/store/query_server.py states the contract).
//
//   const engine = await loadQuickJS(wasmBinary?)   // wasmBinary: the .wasm's bytes where fetch cannot
//   const context = engine.newContext(script, timeoutMs, memoryLimit)   // script evaluated in it
//   const text = context.call(name, text)   // the global function `name` called with one string
//   context.close()
//
// Calls are synchronous: Python waits for them as it waits for SQLite. Each context is its own QuickJS
// runtime (its own heap and garbage collector) holding the plain ECMAScript globals only: no fetch,
// importScripts, timers or storage, nothing of the worker is reachable. A call running past its deadline
// is interrupted (QuickJS asks the interrupt handler every few thousand instructions, and the script
// cannot catch an interrupt).
//
// Memory: this QuickJS build cannot measure its allocations (no malloc_usable_size in WebAssembly: it
// counts 8 bytes for each), so a runtime's memory limit stops only single huge allocations. What holds is
// the WebAssembly memory the runtimes share, MEMORY_CAP bytes at most: past it allocations fail and the
// script sees QuickJS's "out of memory". A runtime that ran out of memory cannot be freed (QuickJS
// aborts), and one overflowing the worker's own stack leaves the module's stack pointer astray, so either
// retires the whole module: a fresh one loads in the background, and contexts fail until it is there.
// MAX_STACK makes QuickJS stop deep recursion itself, before the worker's stack overflows.
//
// Errors thrown by newContext and call carry a name Python maps to the core's errors: QuickJSTimeout,
// QuickJSOutOfMemory (the context is then unusable) or QuickJSError.

import { newQuickJSWASMModuleFromVariant, newVariant } from "./vendor/quickjs/core/index.mjs";
import releaseSync from "./vendor/quickjs/release-sync/index.mjs";

// Two of the query server's contexts (store/query_server.py: DEFAULT_MEMORY_LIMIT, 256 MiB each).
const MEMORY_CAP = 512 << 20;
// The smallest WebAssembly memory the build accepts (its INITIAL_MEMORY, 16 MiB), in 64 KiB pages.
const INITIAL_PAGES = 256;
// ~680 levels of plain recursion, stopped by QuickJS; at 512 KiB V8's own stack overflowed first (in
// Node). Recursion inside QuickJS's C (JSON.stringify of a 100,000-deep object) still overflows it: run()
// then retires the module.
const MAX_STACK = 128 << 10;
// What QuickJS's InternalErrors say when it stops a script.
const INTERRUPTED = "interrupted";
const OUT_OF_MEMORY = "out of memory";

export async function loadQuickJS(wasmBinary) {
  const engine = new Engine(wasmBinary);
  await engine.load();
  return engine;
}

function engineError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

class Engine {
  constructor(wasmBinary) {
    this.wasmBinary = wasmBinary;
    this.quickjs = null;
  }

  async load() {
    const wasmMemory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MEMORY_CAP >> 16 });
    const options = this.wasmBinary ? { wasmMemory, wasmBinary: this.wasmBinary } : { wasmMemory };
    this.quickjs = await newQuickJSWASMModuleFromVariant(newVariant(releaseSync, options));
  }

  newContext(script, timeoutMs, memoryLimit) {
    if (!this.quickjs) throw engineError("QuickJSError", "QuickJS is restarting");
    return new Context(this, script, timeoutMs, memoryLimit);
  }

  // The module is unusable: drop it (its contexts with it) and load another.
  retire(quickjs) {
    if (this.quickjs !== quickjs) return;
    this.quickjs = null;
    this.load().catch((error) => console.error("QuickJS failed to restart:", error));
  }
}

class Context {
  constructor(engine, script, timeoutMs, memoryLimit) {
    this.engine = engine;
    this.quickjs = engine.quickjs;
    this.timeoutMs = timeoutMs;
    this.deadline = Infinity;
    this.runtime = this.quickjs.newRuntime({ memoryLimitBytes: memoryLimit, maxStackSizeBytes: MAX_STACK });
    this.runtime.setInterruptHandler(() => performance.now() > this.deadline);
    this.vm = this.runtime.newContext();
    this.run(() => this.vm.evalCode(script, "couchjs.js")).dispose();
  }

  call(name, text) {
    const result = this.run(() => {
      const { vm } = this;
      const fun = vm.getProp(vm.global, name);
      const arg = vm.newString(text);
      try {
        return vm.callFunction(fun, vm.undefined, arg);
      } finally {
        arg.dispose();
        fun.dispose();
      }
    });
    try {
      return this.vm.getString(result);
    } finally {
      result.dispose();
    }
  }

  // The handle fn returns, run against the deadline; what it threw becomes an error named for Python.
  run(fn) {
    if (!this.vm || this.engine.quickjs !== this.quickjs) {
      throw engineError("QuickJSError", "the context is closed");
    }
    this.deadline = performance.now() + this.timeoutMs;
    let result;
    try {
      result = fn();
    } catch (error) {  // not QuickJS's but WebAssembly's: a stack overflow, an abort
      this.lost();
      throw engineError("QuickJSError", String(error));
    } finally {
      this.deadline = Infinity;
    }
    if (result.error) this.fail(result.error);
    return result.value;
  }

  fail(handle) {
    const error = this.vm.dump(handle);
    handle.dispose();
    const message = error && error.message !== undefined ? `${error.name}: ${error.message}` : String(error);
    if (error && error.name === "InternalError" && error.message === INTERRUPTED) {
      throw engineError("QuickJSTimeout", message);
    }
    if (error && error.name === "InternalError" && error.message === OUT_OF_MEMORY) {
      this.lost();
      throw engineError("QuickJSOutOfMemory", message);
    }
    throw engineError("QuickJSError", message);
  }

  lost() {
    this.engine.retire(this.quickjs);
    this.vm = this.runtime = null;
  }

  close() {
    if (!this.vm) return;
    try {
      if (this.engine.quickjs === this.quickjs) {
        this.vm.dispose();
        this.runtime.dispose();
      }
    } catch (error) {  // QuickJS aborted freeing it (objects left after running out of memory)
      console.error("QuickJS failed to free a context; restarting it:", error);
      this.engine.retire(this.quickjs);
    }
    this.vm = this.runtime = null;
  }
}
