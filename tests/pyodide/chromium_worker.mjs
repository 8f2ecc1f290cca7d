// Runs pytest inside Pyodide in a module Web Worker, for chromium.html (tests/pyodide/test_in_chromium.py).
//
// A worker, not the page: the tests drive asyncio on tests/pyodide_support.py's SyncLoop, whose
// time.sleep busy-waits, and pytest.main runs for a minute without yielding. On the page that would freeze
// the tab, and Selenium could not even ask how far the run got.
//
// Messages (chromium.mjs is the other end; one run per worker):
//   in:  {type: "run", args: [pytest args], env: {NAME: value}, files: [paths relative to the repo root]}
//   out: {type: "output", text}            pytest's stdout and stderr, as written
//        {type: "blocked", url, reason}    a request that left the static server was refused
//        {type: "done", code, timings}     pytest's exit code; seconds per stage (harness.mjs)
//        {type: "failed", error}           set-up failed (no exit code)
//
// Everything comes from the static server the page came from: Pyodide and its wheels from /web/dist/,
// the tab's QuickJS engine from the bundle (harness.mjs: QUICKJS_ENGINE), `files` from the repository root. The server's Content-Security-Policy blocks any other origin; this
// worker also refuses such a fetch itself and reports both, so a test can fail on them.

import { QUICKJS_ENGINE, REPO_IN_PYODIDE, runPytest } from "./harness.mjs";

const REPO = new URL("../../", import.meta.url);
const DIST = new URL("web/dist/", REPO);
const post = (message) => self.postMessage(message);

const pageFetch = self.fetch.bind(self);
self.fetch = (resource, init) => {
  const url = new URL(resource instanceof Request ? resource.url : String(resource), self.location.href);
  if (url.origin !== self.location.origin) {
    post({ type: "blocked", url: url.href, reason: "fetch outside the static server" });
    return Promise.reject(new TypeError(`chromium_worker: refused a fetch of ${url.href}`));
  }
  return pageFetch(resource, init);
};
self.addEventListener("securitypolicyviolation", (event) => {
  post({ type: "blocked", url: event.blockedURI, reason: `CSP ${event.effectiveDirective}` });
});

function writer() {
  const decoder = new TextDecoder();
  return {
    write(bytes) {
      post({ type: "output", text: decoder.decode(bytes, { stream: true }) });
      return bytes.length;
    },
  };
}

async function fetchFiles(paths) {
  return Promise.all(paths.map(async (path) => {
    const response = await fetch(new URL(path, REPO));
    if (!response.ok) throw new Error(`chromium_worker: ${path}: HTTP ${response.status}`);
    return [path, new Uint8Array(await response.arrayBuffer())];
  }));
}

async function run({ args, env, files }) {
  const fetched = fetchFiles(files);  // while Pyodide loads
  fetched.catch(() => {});  // awaited (and so reported) in writeFiles
  const { loadPyodide } = await import(new URL("pyodide.mjs", DIST));
  const { loadQuickJS } = await import(new URL(QUICKJS_ENGINE, REPO));
  const quickjs = await loadQuickJS();
  const writeFiles = async (FS) => {
    for (const [path, bytes] of await fetched) {
      const target = `${REPO_IN_PYODIDE}/${path}`;
      FS.mkdirTree(target.slice(0, target.lastIndexOf("/")));
      FS.writeFile(target, bytes);
    }
  };
  return runPytest({ loadPyodide, indexURL: DIST.href, env, writeFiles, args, quickjs,
                     stdout: writer(), stderr: writer() });
}

self.onmessage = ({ data }) => {
  if (data.type !== "run") return;
  run(data).then(
    async ({ code, timings }) => {
      await new Promise((resolve) => setTimeout(resolve, 0));  // CSP violation events queued meanwhile
      post({ type: "done", code, timings });
    },
    (error) => post({ type: "failed", error: String(error && error.stack || error) }),
  );
};
