// Run pytest inside Pyodide: the part shared by the Node runner (run_in_pyodide.mjs) and the Chromium
// worker (chromium_worker.mjs). Plain ES module, no Node or browser API: the caller passes what differs.
//
//   const result = await runPytest({ loadPyodide, indexURL, env, writeFiles, args, stdout, stderr, quickjs });
//
// - loadPyodide, indexURL: Pyodide from the offline dist (web/dist, built by `python build.py`), whose
//   pyodide-lock.json lists only the wheels it ships, so a load never falls back to a CDN;
// - env: extra variables for Python's os.environ (HOME is set);
// - writeFiles(FS): async, puts the repository's tests/ (*.py only) and pyproject.toml under /repo;
// - args: pytest's command line; stdout, stderr: optional writers for pyodide.setStdout/setStderr, e.g.
//   {write(bytes) -> count} (Pyodide's defaults otherwise: Node's streams, the browser's console);
// - quickjs: the tab's JavaScript engine (the bundle's quickjs-engine.js, loaded), which the tests reach
//   as the Python module QUICKJS_MODULE's `engine` (tests/api/test_views.py runs design functions in it).
//
// Installs PACKAGES from the lock, runs pytest.main(args) with /repo as the working directory and
// returns {code, timings}: pytest's exit code and the seconds spent on each stage ({load, packages, files,
// tests}). Set-up errors are thrown.

export const PACKAGES = ["browsercouch", "pytest", "hypothesis"];
// Which files of the repository the run needs: TEST_ROOT's *.py (SKIP_DIRS and dot-directories left out)
// and CONFIG. pyodide_runs.py's repo_files() lists the same for the browser, which cannot walk a tree.
export const TEST_ROOT = "tests";
export const SKIP_DIRS = ["node_modules", "__pycache__"];
export const CONFIG = "pyproject.toml";
export const REPO_IN_PYODIDE = "/repo";
export const QUICKJS_MODULE = "_browsercouch_quickjs";
// The engine, relative to the repository root: the bundle (`python build.py` builds it) as the tab loads it.
export const QUICKJS_ENGINE = "browsercouch/extension/app/quickjs-engine.js";
export const QUICKJS_WASM = "browsercouch/extension/app/vendor/quickjs/release-sync/emscripten-module.wasm";

// runPython, not runPythonAsync: the tests run their own event loops (tests/pyodide_support.py), which
// they cannot while Pyodide's WebLoop is running this code.
const RUN_PYTEST = `
import os
os.chdir(repo)
import pytest
int(pytest.main(list(pytest_args)))
`;

export async function runPytest({ loadPyodide, indexURL, env = {}, writeFiles, args, stdout, stderr, quickjs }) {
  const marks = [performance.now()];
  const pyodide = await loadPyodide({ indexURL, env: { HOME: "/home/pyodide", ...env } });
  if (stdout) pyodide.setStdout(stdout);
  if (stderr) pyodide.setStderr(stderr);
  if (quickjs) pyodide.registerJsModule(QUICKJS_MODULE, { engine: quickjs });
  marks.push(performance.now());
  await pyodide.loadPackage(PACKAGES, { messageCallback: () => {}, checkIntegrity: true });
  marks.push(performance.now());
  await writeFiles(pyodide.FS);
  marks.push(performance.now());
  pyodide.globals.set("repo", REPO_IN_PYODIDE);
  pyodide.globals.set("pytest_args", pyodide.toPy(args));
  const code = pyodide.runPython(RUN_PYTEST);
  marks.push(performance.now());
  const [load, packages, files, tests] = marks.slice(1).map((mark, i) => (mark - marks[i]) / 1000);
  return { code, timings: { load, packages, files, tests } };
}

// One line for the log: `NAME: load S s, packages S s, files S s, tests S s, exit N`.
export function summaryLine(name, { code, timings }) {
  const stages = Object.entries(timings).map(([stage, seconds]) => `${stage} ${seconds.toFixed(1)} s`);
  return `${name}: ${stages.join(", ")}, exit ${code}`;
}
