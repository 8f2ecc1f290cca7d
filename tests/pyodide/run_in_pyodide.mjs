// Run browsercouch's tests inside Pyodide under Node, offline, from web/dist (python build.py builds it).
//
//   node tests/pyodide/run_in_pyodide.mjs [PYTEST ARGS...]
//
// Loads Pyodide from web/dist (never a CDN: the dist's pyodide-lock.json lists only the wheels it ships),
// installs browsercouch, pytest and hypothesis from that lock, copies the repository's tests/ (*.py only)
// and pyproject.toml into Pyodide's in-memory file system at /repo, and runs pytest.main(ARGS) there with
// /repo as the working directory. Prints pytest's output, then one line
// `run_in_pyodide: load S s, tests S s, exit N`, and exits with pytest's exit code (2 when set-up fails).
// BROWSERCOUCH_PYODIDE_* environment variables are passed into Pyodide's os.environ.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIST = path.join(REPO, "web", "dist");
const PACKAGES = ["browsercouch", "pytest", "hypothesis"];

function copyTree(FS, from, to) {
  FS.mkdirTree(to);
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copyTree(FS, source, `${to}/${entry.name}`);
    else if (entry.name.endsWith(".py")) FS.writeFile(`${to}/${entry.name}`, fs.readFileSync(source));
  }
}

// Nothing may come from the network: Pyodide under Node reads local paths with node:fs, so any fetch at
// all means something (a package missing from the lock, a CDN fallback) reached out. Refuse it loudly.
globalThis.fetch = async (url) => {
  throw new Error(`run_in_pyodide: refused a network fetch of ${url}`);
};

async function main(args) {
  const started = performance.now();
  const { loadPyodide } = await import(path.join(DIST, "pyodide.mjs"));
  const env = { HOME: "/home/pyodide" };
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("BROWSERCOUCH_PYODIDE_")) env[key] = value;
  }
  const pyodide = await loadPyodide({ indexURL: DIST + path.sep, env });
  const loaded = performance.now();
  await pyodide.loadPackage(PACKAGES, { messageCallback: () => {}, checkIntegrity: true });
  copyTree(pyodide.FS, path.join(REPO, "tests"), "/repo/tests");
  pyodide.FS.writeFile("/repo/pyproject.toml", fs.readFileSync(path.join(REPO, "pyproject.toml")));
  const installed = performance.now();
  pyodide.globals.set("pytest_args", pyodide.toPy(args));
  // runPython, not runPythonAsync: the tests run their own event loops (tests/pyodide_support.py), which
  // they cannot while Pyodide's WebLoop is running this code.
  const code = pyodide.runPython(`
import os, sys
os.chdir("/repo")
import pytest
int(pytest.main(list(pytest_args)))
`);
  const done = performance.now();
  const seconds = (ms) => (ms / 1000).toFixed(1);
  console.log(`run_in_pyodide: load ${seconds(loaded - started)} s, packages ${seconds(installed - loaded)} s, `
    + `tests ${seconds(done - installed)} s, exit ${code}`);
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error("run_in_pyodide: set-up failed:", error);
    process.exit(2);
  },
);
