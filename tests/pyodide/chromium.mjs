// The page side of the in-Chromium test run: starts chromium_worker.mjs and keeps what it reports where
// Selenium can poll it (tests/pyodide/test_in_chromium.py). The tab itself stays idle and responsive.
//
//   window.pyodideHarness.start({args, env, files})  begin a run in a fresh worker (a fresh Pyodide)
//   window.pyodideHarness.status()  -> {done, outputLength}
//   window.pyodideHarness.result()  -> {done, code, timings, error, output, blocked}
//
// `code` is pytest's exit code (null when set-up failed: see `error`); `blocked` lists the requests that
// tried to leave the static server ({url, reason}), from the worker and from this page.

let run = null;
const blocked = [];

document.addEventListener("securitypolicyviolation", (event) => {
  blocked.push({ url: event.blockedURI, reason: `CSP ${event.effectiveDirective} (page)` });
});

function start({ args, env, files }) {
  if (run && run.worker) run.worker.terminate();
  const worker = new Worker(new URL("./chromium_worker.mjs", import.meta.url), { type: "module" });
  run = { worker, done: false, code: null, timings: null, error: null, output: [], outputLength: 0 };
  const current = run;
  const finish = (fields) => {
    Object.assign(current, fields, { done: true });
    worker.terminate();  // frees Pyodide's memory before the next run
    current.worker = null;
  };
  worker.onmessage = ({ data }) => {
    if (data.type === "output") {
      current.output.push(data.text);
      current.outputLength += data.text.length;
    }
    else if (data.type === "blocked") blocked.push({ url: data.url, reason: data.reason });
    else if (data.type === "done") finish({ code: data.code, timings: data.timings });
    else if (data.type === "failed") finish({ error: data.error });
  };
  worker.onerror = (event) => finish({ error: `worker error: ${event.message || "failed to start"}` });
  worker.postMessage({ type: "run", args, env, files });
}

function status() {
  return { done: run !== null && run.done, outputLength: run ? run.outputLength : 0 };
}

function result() {
  const { done, code, timings, error, output } = run;
  return { done, code, timings, error, output: output.join(""), blocked: [...blocked] };
}

window.pyodideHarness = { start, status, result };
