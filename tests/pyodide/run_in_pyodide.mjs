// Run browsercouch's tests inside Pyodide under Node, offline, from web/dist (python build.py builds it).
//
//   node tests/pyodide/run_in_pyodide.mjs [PYTEST ARGS...]
//
// Loads Pyodide from web/dist (never a CDN: the dist's pyodide-lock.json lists only the wheels it ships),
// installs browsercouch, pytest and hypothesis from that lock, copies the repository's tests/ (*.py only)
// and pyproject.toml into Pyodide's in-memory file system at /repo, and runs pytest.main(ARGS) there with
// /repo as the working directory (harness.mjs, shared with the Chromium run), with the tab's QuickJS
// engine from the bundle (browsercouch/extension/, also built by build.py) for the design functions. Prints pytest's output, then
// one line `run_in_pyodide: load S s, packages S s, files S s, tests S s, exit N`, and exits with pytest's
// exit code (2 when set-up fails). BROWSERCOUCH_PYODIDE_* environment variables are passed into Pyodide's
// os.environ.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  CONFIG, QUICKJS_ENGINE, QUICKJS_WASM, REPO_IN_PYODIDE, runPytest, SKIP_DIRS, summaryLine, TEST_ROOT,
} from "./harness.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIST = path.join(REPO, "web", "dist");

function copyTree(FS, from, to) {
  FS.mkdirTree(to);
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (SKIP_DIRS.includes(entry.name) || entry.name.startsWith(".")) continue;
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copyTree(FS, source, `${to}/${entry.name}`);
    else if (entry.name.endsWith(".py")) FS.writeFile(`${to}/${entry.name}`, fs.readFileSync(source));
  }
}

async function writeFiles(FS) {
  copyTree(FS, path.join(REPO, TEST_ROOT), `${REPO_IN_PYODIDE}/${TEST_ROOT}`);
  FS.writeFile(`${REPO_IN_PYODIDE}/${CONFIG}`, fs.readFileSync(path.join(REPO, CONFIG)));
}

// Nothing may come from the network: Pyodide under Node reads local paths with node:fs, so any fetch at
// all means something (a package missing from the lock, a CDN fallback) reached out. Refuse it loudly.
globalThis.fetch = async (url) => {
  throw new Error(`run_in_pyodide: refused a network fetch of ${url}`);
};

async function main(args) {
  const { loadPyodide } = await import(path.join(DIST, "pyodide.mjs"));
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("BROWSERCOUCH_PYODIDE_")) env[key] = value;
  }
  // The browser build of QuickJS fetches its .wasm; here it gets the bytes, read from the bundle.
  const { loadQuickJS } = await import(path.join(REPO, QUICKJS_ENGINE));
  const quickjs = await loadQuickJS(fs.readFileSync(path.join(REPO, QUICKJS_WASM)));
  const result = await runPytest({ loadPyodide, indexURL: DIST + path.sep, env, writeFiles, args, quickjs });
  console.log(summaryLine("run_in_pyodide", result));
  return result.code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error("run_in_pyodide: set-up failed:", error);
    process.exit(2);
  },
);
