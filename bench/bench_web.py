"""Benchmark browsercouch in a browser tab against PouchDB in the same headless Chromium, all on 127.0.0.1.

    .venv/bin/python bench/bench_web.py [--docs 10000] [--repeat 3] [--persist-sizes 1000,10000,100000]
                                            [--writes 5] [--out FILE]

One Chromium (``tests/chromium.py``, a fresh profile) and three local servers: ``browsercouch web``
serving the web app (``web/``), a second ``browsercouch web`` serving a temporary directory with the
bench pages (``bench/web/``), copies of ``web/dist``, the tab's file stores and PouchDB's browser
builds, and a native ``browsercouch serve --memory --cors ...`` holding ``--docs`` ~300-byte documents
(the shape of ``bench_server.make_docs``) as the replication source. Three parts:

  ready       ``/index.html`` of the web app until it sets ``body[data-ready="1"]``, from the start of the
              navigation (the page's ``performance.now()``): cold (fresh profile, first open) once, then
              warm (reload) ``--repeat`` times. The worker's own timings (``couch.info.timings``: Pyodide
              loaded, browsercouch loaded, databases open) are shown beside it. Goal: under 5 s.
  pull        ``--docs`` docs from the native server, ``--repeat`` interleaved rounds, a fresh target each
              round, deleted after: browsercouch in the web app's tab (``POST /_replicate`` with
              ``create_target`` through ``window.browsercouch.couch.request``) against PouchDB 9.0.0 in
              another tab, with its ``idb`` IndexedDB adapter (``dist/pouchdb.min.js``) and with the
              newer ``indexeddb`` adapter (``dist/pouchdb.indexeddb.min.js``). Times are taken in the
              page with ``performance.now()``; each is checked for ``docs_written`` and ``doc_count``.
              Goal: browsercouch / PouchDB idb >= 1.
  persist     ``bench/web/persist.html``: in a module worker, browsercouch's store fills a database of
              each ``--persist-sizes`` size, then for each storage: the first save of the whole files,
              the save after one single-document write (median of ``--writes``), and the load at start-up
              (every document checked). The storages: what the tab does, ``web/opfs-files.js`` with
              its writer (the changed byte ranges written to OPFS through a redo journal, flushed),
              ``web/file-store.js`` (the fallback: changed chunks in one IndexedDB transaction with
              strict durability), and for comparison the same with relaxed durability, IDBFS's and
              OPFS's ``FS.syncfs``.

PouchDB comes from the npm package ``pouchdb@9.0.0`` (``tests/node``): its ``dist/`` holds the browser
builds as plain scripts. The npm ``pouchdb-browser`` package ships only ES modules with bare imports,
which need a bundler. Both sides use their default replication options (batches of 100).

Chromium gets ``--disable-background-timer-throttling`` and friends, so the tab that is not in front
runs at full speed. Results are written as JSON (``--out``, default
``bench/results/browser-<time>.json``); the exit code is non-zero when any measurement failed or gave a
wrong answer (a goal missed is reported, not failed).
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
import chromium  # noqa: E402 - the shared Chromium launcher and server starters live with the tests
import helpers  # noqa: E402
from bench_server import make_docs  # noqa: E402

PAGES = BENCH / "web"
POUCHDB_DIST = helpers.NODE_MODULES / "pouchdb" / "dist"
POUCHDB_FILES = ("pouchdb.min.js", "pouchdb.indexeddb.min.js")
WEB_DIST = helpers.REPO / "web" / "dist"
# The tab's file stores, copied next to persist-worker.js.
FILE_STORES = [helpers.REPO / "web" / name for name in ("file-store.js", "opfs-files.js", "opfs-writer.js")]
SEED_BATCH = 500
# Upper bounds, in seconds, on each wait on the browser: nothing here loops forever.
READY_TIMEOUT = 120
PAGE_TIMEOUT = 30
PULL_TIMEOUT = 300
PERSIST_TIMEOUT = 900
POLL_INTERVAL = 0.5
# Goals from the issue: ready in under 5 s; the tab pulls at least as fast as PouchDB.
READY_GOAL_MS = 5000
PULL_GOAL_RATIO = 1.0
# Every tab runs at full speed, in front or not; every host but 127.0.0.1 fails to resolve.
EXTRA_FLAGS = ("--disable-background-timer-throttling", "--disable-renderer-backgrounding",
               "--disable-backgrounding-occluded-windows",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
PULLERS = ("browsercouch tab", "PouchDB idb", "PouchDB indexeddb")
POUCH_ADAPTERS = {"PouchDB idb": "idb", "PouchDB indexeddb": "indexeddb"}
# The storages of persist-worker.js, in the table's order: what the tab uses first.
STORAGES = ("OPFS writer", "file-store strict", "file-store relaxed", "IDBFS", "OPFS")
STORAGE_LABELS = {"OPFS writer": "OPFS writer (used)", "file-store strict": "file-store strict (fallback)"}

# Installed before every document of the app's tab: resolves once the app sets body[data-ready].
READY_HOOK = """
window.__benchReady = new Promise((resolve) => {
  const observer = new MutationObserver(() => {
    const state = document.body && document.body.dataset.ready;
    if (state) { observer.disconnect(); resolve({ state, ms: performance.now() }); }
  });
  observer.observe(document, { attributes: true, attributeFilter: ["data-ready"], subtree: true });
});
"""
WAIT_READY = """
const done = arguments[arguments.length - 1];
window.__benchReady.then((ready) => {
  const couch = window.browsercouch && window.browsercouch.couch;
  done({ ...ready, timings: couch && couch.info && couch.info.timings,
         status: (document.getElementById("status") || {}).textContent });
}, (error) => done({ state: "error", error: String(error) }));
"""
TAB_PULL = """
const [source, target, done] = arguments;
const couch = window.browsercouch.couch;
const json = { "Content-Type": "application/json", Accept: "application/json" };
(async () => {
  const started = performance.now();
  const answer = await couch.request("POST", "/_replicate",
    { headers: json, body: JSON.stringify({ source, target, create_target: true }) });
  const ms = performance.now() - started;
  const info = await couch.request("GET", "/" + target, { headers: json });
  const deleted = await couch.request("DELETE", "/" + target, { headers: json });
  return { ms, status: answer.status, answer: answer.text(), info: info.text(), deleted: deleted.status };
})().then(done, (error) => done({ error: String(error && error.stack || error) }));
"""
POUCH_PULL = """
const [adapter, source, target, done] = arguments;
window.pouchPull(adapter, source, target).then(done,
  (error) => done({ error: String(error && error.stack || error) }));
"""


class BenchError(Exception):
    """A measurement could not be taken or gave a wrong answer (e.g. fewer docs than written)."""


def measure_errors():
    """What a failed measurement may raise; anything else is a bug in this script."""
    from selenium.common.exceptions import WebDriverException

    return (BenchError, OSError, RuntimeError, KeyError, ValueError, WebDriverException)


# --- set-up -----------------------------------------------------------------------------------------------

def bench_root(tmp):
    """The second static server's directory: the bench pages, PouchDB's browser builds, Pyodide's dist
    and the tab's file store (imported by ``persist-worker.js``)."""
    root = tmp / "root"
    shutil.copytree(PAGES, root, ignore=shutil.ignore_patterns("__pycache__"))
    for name in POUCHDB_FILES:
        shutil.copy(POUCHDB_DIST / name, root / name)
    # StaticFiles refuses symlinks out of its root: a real copy (16 MB).
    shutil.copytree(WEB_DIST, root / "dist")
    for source in FILE_STORES:
        shutil.copy(source, root / source.name)
    return root


def origin(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def fill_source(base_url, n_docs):
    """A database of ``n_docs`` docs on the native server; return its URL."""
    db_url = helpers.new_db(base_url, "source")
    docs = make_docs(n_docs)
    for start in range(0, n_docs, SEED_BATCH):
        batch = {"docs": docs[start:start + SEED_BATCH]}
        status, _, rows = helpers.http("POST", db_url + "/_bulk_docs", batch, timeout=120)
        if status != 201 or any("error" in row for row in rows):
            raise BenchError(f"filling the source: _bulk_docs answered {status}: {str(rows)[:300]}")
    status, _, info = helpers.http("GET", db_url)
    if status != 200 or info.get("doc_count") != n_docs:
        raise BenchError(f"the source holds {info!r}, expected {n_docs} docs")
    return db_url


def open_page(browser, url, entry_point):
    """Open a bench page in the current tab and wait until its script defined ``window.<entry_point>``."""
    browser.get(url)
    deadline = time.monotonic() + PAGE_TIMEOUT
    while not browser.execute_script(f"return typeof window.{entry_point} === 'function'"):
        if time.monotonic() > deadline:
            raise BenchError(f"{url} defined no window.{entry_point} within {PAGE_TIMEOUT} s")
        time.sleep(0.05)


def async_script(browser, timeout, script, *args):
    browser.set_script_timeout(timeout)
    return browser.execute_async_script(script, *args)


# --- ready ------------------------------------------------------------------------------------------------

def wait_ready(browser):
    ready = async_script(browser, READY_TIMEOUT, WAIT_READY)
    if ready.get("state") != "1" or not ready.get("timings"):
        raise BenchError(f"the web app did not get ready: {ready!r}")
    return {"ms": ready["ms"], **{f"worker_{k}": v for k, v in ready["timings"].items()}}


def measure_ready(browser, app_url, repeat):
    """``{"cold": row, "warm": [rows]}``; a row is ``{ms, worker_pyodide, worker_packages, worker_ready}``."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": READY_HOOK})
    browser.get(app_url)
    cold = wait_ready(browser)
    print(f"    cold: {cold['ms']:,.0f} ms", flush=True)
    warm = []
    for _ in range(repeat):
        browser.refresh()
        warm.append(wait_ready(browser))
        print(f"    warm: {warm[-1]['ms']:,.0f} ms", flush=True)
    return {"cold": cold, "warm": warm}


# --- pull -------------------------------------------------------------------------------------------------

def tab_pull(browser, source, target, n_docs):
    result = async_script(browser, PULL_TIMEOUT, TAB_PULL, source, target)
    if "error" in result:
        raise BenchError(f"browsercouch tab pull failed: {result['error']}")
    answer, info = json.loads(result["answer"]), json.loads(result["info"])
    written = (answer.get("history") or [{}])[0].get("docs_written")
    if result["status"] != 200 or written != n_docs or info.get("doc_count") != n_docs:
        raise BenchError(f"browsercouch tab pull: {result['status']} {answer!r}, target {info!r}, "
                         f"expected {n_docs} docs")
    if result["deleted"] != 200:
        raise BenchError(f"browsercouch tab: DELETE /{target} answered {result['deleted']}")
    return result["ms"]


def pouch_pull(browser, adapter, source, target, n_docs):
    result = async_script(browser, PULL_TIMEOUT, POUCH_PULL, adapter, source, target)
    if "error" in result:
        raise BenchError(f"PouchDB {adapter} pull failed: {result['error']}")
    if (result["adapter"], result["docs_written"], result["doc_count"]) != (adapter, n_docs, n_docs):
        raise BenchError(f"PouchDB pull: {result!r}, expected adapter {adapter} and {n_docs} docs")
    return result["ms"]


def measure_pulls(browser, pouchdb_url, source, n_docs, repeat):
    """``{puller: [ms per round]}``: browsercouch in the current tab (the web app), PouchDB in a new tab
    opened on ``pouchdb_url``. Rounds interleave the pullers, starting with a different one each."""
    tabs = {"app": browser.current_window_handle}
    browser.switch_to.new_window("tab")
    tabs["pouchdb"] = browser.current_window_handle
    open_page(browser, pouchdb_url, "pouchPull")
    times = {name: [] for name in PULLERS}
    for round_no in range(repeat):
        order = PULLERS[round_no % len(PULLERS):] + PULLERS[:round_no % len(PULLERS)]
        for name in order:
            target = f"pull-{round_no}-{time.monotonic_ns() % 10**9}"
            if name == "browsercouch tab":
                browser.switch_to.window(tabs["app"])
                elapsed = tab_pull(browser, source, target, n_docs)
            else:
                browser.switch_to.window(tabs["pouchdb"])
                elapsed = pouch_pull(browser, POUCH_ADAPTERS[name], source, target, n_docs)
            times[name].append(elapsed)
            print(f"    round {round_no + 1} {name}: {elapsed / 1000:.2f} s "
                  f"({n_docs / elapsed * 1000:,.0f} docs/s)", flush=True)
    return times


# --- persist ----------------------------------------------------------------------------------------------

def close_other_tabs(browser):
    keep = browser.current_window_handle
    for handle in browser.window_handles:
        if handle != keep:
            browser.switch_to.window(handle)
            browser.close()
    browser.switch_to.window(keep)


def measure_persist(browser, url, sizes, writes):
    """The rows of ``persist-worker.js``, checked: every document written came back after a reload.

    Runs in the current tab, after closing the others (the web app's Pyodide needs memory too)."""
    close_other_tabs(browser)
    open_page(browser, url, "startPersist")
    browser.execute_script("window.startPersist(arguments[0])", {"sizes": list(sizes), "writes": writes})
    deadline = time.monotonic() + PERSIST_TIMEOUT
    shown = 0
    while True:
        run = browser.execute_script("return window.persistRun")
        for line in run["log"][shown:]:
            print(f"    {line}", flush=True)
        shown = len(run["log"])
        if run["error"]:
            raise BenchError(f"persist benchmark failed: {run['error']}")
        if run["rows"] is not None:
            return check_persist_rows(run["rows"], sizes, writes)
        if time.monotonic() > deadline:
            raise BenchError(f"persist benchmark still running after {PERSIST_TIMEOUT} s")
        time.sleep(POLL_INTERVAL)


def check_persist_rows(rows, sizes, writes):
    """``rows``, once they are one per size and storage and each got all its documents back."""
    expected = sorted((size, storage) for size in sizes for storage in STORAGES)
    if sorted((row["size"], row["storage"]) for row in rows) != expected:
        raise BenchError(f"persist benchmark answered rows for {[(r['size'], r['storage']) for r in rows]}")
    for row in rows:
        if row["loaded_docs"] != row["size"] + writes or len(row["one_write_ms"]) != writes:
            raise BenchError(f"persist {row['storage']} {row['size']}: {row!r}, expected "
                             f"{row['size'] + writes} docs after a reload")
    return rows


# --- the run ----------------------------------------------------------------------------------------------

def run_all(args, tmp, results):
    """Fill ``results`` part by part; a part that fails holds its exception instead."""
    errors = measure_errors()
    servers = []
    browser = None
    try:
        servers.append(helpers.start_browsercouch(command="web"))
        app = servers[-1].url
        servers.append(helpers.start_browsercouch("--root", str(bench_root(tmp)), command="web"))
        bench = servers[-1].url
        servers.append(helpers.start_browsercouch("--cors", origin(app), "--cors", origin(bench)))
        source = fill_source(servers[-1].url, args.docs)
        browser = chromium.launch(tmp / "profile", *EXTRA_FLAGS)
        parts = (
            ("ready", lambda: measure_ready(browser, app + "index.html", args.repeat)),
            ("pull", lambda: measure_pulls(browser, bench + "pouchdb.html", source, args.docs, args.repeat)),
            ("persist", lambda: measure_persist(browser, bench + "persist.html", args.persist_sizes,
                                                args.writes)),
        )
        for name, measure in parts:
            print(f"{name}:", flush=True)
            try:
                results[name] = measure()
            except errors as exc:
                results[name] = exc
                print(f"    FAILED {exc}", flush=True)
                print_browser_log(browser)
    finally:
        if browser is not None:
            browser.quit()
        for server in reversed(servers):
            server.stop()


def print_browser_log(browser):
    try:
        entries = browser.get_log("browser")
    except measure_errors():
        return
    for entry in entries[-20:]:
        print(f"    browser: {entry.get('level')} {entry.get('message', '')[:500]}", flush=True)


# --- report -----------------------------------------------------------------------------------------------

def print_table(title, header, rows):
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(rows):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if i == 0:
            print("-+-".join("-" * width for width in widths))


def ms(value):
    return f"{value:,.0f}"


def summarize_ready(ready):
    """Cold and median warm ``{page, worker_pyodide, worker_packages, worker_ready}`` in ms."""
    stages = ("ms", "worker_pyodide", "worker_packages", "worker_ready")
    warm = {key: statistics.median(row[key] for row in ready["warm"]) for key in stages}
    cold = {key: ready["cold"][key] for key in stages}
    return {"cold": cold, "warm": warm, "warm_runs": len(ready["warm"])}


def summarize_pull(pull, n_docs):
    """Per puller: median seconds and docs/s, and browsercouch's rate over it."""
    rows = {name: {"s": statistics.median(times) / 1000} for name, times in pull.items()}
    for row in rows.values():
        row["docs_per_s"] = n_docs / row["s"]
    ours = rows["browsercouch tab"]["docs_per_s"]
    for row in rows.values():
        row["browsercouch_ratio"] = ours / row["docs_per_s"]
    return rows


def summarize_persist(persist):
    """Per size: file MB, fill rate, and per storage first / median one-write / load ms."""
    by_size = {}
    for row in persist:
        entry = by_size.setdefault(row["size"], {"file_mb": row["bytes"] / 1e6,
                                                 "fill_docs_per_s": row["size"] / row["fill_ms"] * 1000})
        entry[row["storage"]] = {"first_ms": row["first_ms"], "load_ms": row["load_ms"],
                                 "one_write_ms": statistics.median(row["one_write_ms"])}
    return dict(sorted(by_size.items()))


def report_ready(summary):
    stages = ("ms", "worker_pyodide", "worker_packages", "worker_ready")
    rows = [["cold (first open)", *(ms(summary["cold"][key]) for key in stages)],
            [f"warm (reload, median of {summary['warm_runs']})",
             *(ms(summary["warm"][key]) for key in stages)]]
    print_table("ready time (ms): page = from navigation start to body[data-ready]; worker = since the "
                "worker started", ["open", "page", "worker: pyodide", "+ browsercouch", "+ databases open"],
                rows)
    verdicts = ", ".join(f"{name} {'met' if summary[name]['ms'] < READY_GOAL_MS else 'MISSED'}"
                         for name in ("cold", "warm"))
    print(f"goal: ready in under {READY_GOAL_MS:,} ms: {verdicts}")


def report_pull(summary, n_docs, rounds):
    rows = [[name, f"{row['s']:.2f}", ms(row["docs_per_s"]),
             "-" if name == "browsercouch tab" else f"{row['browsercouch_ratio']:.2f}x"]
            for name, row in summary.items()]
    print_table(f"pull {n_docs:,} docs from a native browsercouch (median of {rounds} rounds)",
                ["puller", "s", "docs/s", "browsercouch / this"], rows)
    ratio = summary["PouchDB idb"]["browsercouch_ratio"]
    print(f"goal: browsercouch / PouchDB idb >= {PULL_GOAL_RATIO}: {ratio:.2f}x "
          f"{'met' if ratio >= PULL_GOAL_RATIO else 'MISSED'}")


def report_persist(summary, writes):
    keys = ("first_ms", "one_write_ms", "load_ms")
    rows = [[f"{size:,}", f"{row['file_mb']:.1f}", ms(row["fill_docs_per_s"]),
             *(" / ".join(ms(row[storage][key]) for key in keys) for storage in STORAGES)]
            for size, row in summary.items()]
    print_table(f"persist cost, ms, each cell first save / one write (median of {writes}) / load at start-up",
                ["docs", "file MB", "fill docs/s", *(STORAGE_LABELS.get(name, name) for name in STORAGES)],
                rows)


def report(results, args):
    """Print the tables; return the summary (medians, rates, ratios) of the parts that ran."""
    summary = {}
    parts = (
        ("ready", summarize_ready, report_ready),
        ("pull", lambda pull: summarize_pull(pull, args.docs),
         lambda summary: report_pull(summary, args.docs, args.repeat)),
        ("persist", summarize_persist, lambda summary: report_persist(summary, args.writes)),
    )
    for name, summarize, show in parts:
        value = results.get(name, BenchError("not run"))
        if isinstance(value, Exception):
            print(f"\n{name}: FAILED: {value}")
            continue
        summary[name] = summarize(value)
        show(summary[name])
    return summary


def write_json(results, args):
    out = Path(args.out) if args.out else BENCH / "results" / time.strftime("browser-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"args": vars(args), "results": {
        name: str(value) if isinstance(value, Exception) else value for name, value in results.items()}}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results written to {out}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000, help="documents pulled (default 10000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="pull rounds and warm reloads, median taken (default 3)")
    parser.add_argument("--persist-sizes", default="1000,10000,100000",
                        help="database sizes of the persist part, comma-separated "
                        "(default 1000,10000,100000)")
    parser.add_argument("--writes", type=int, default=5,
                        help="single-document writes timed per size and storage (default 5)")
    parser.add_argument("--out", help="JSON results file (default bench/results/browser-<time>.json)")
    args = parser.parse_args(argv)
    try:
        args.persist_sizes = [int(size) for size in args.persist_sizes.split(",")]
    except ValueError:
        parser.error("--persist-sizes must be comma-separated integers")
    if (args.docs < 1 or not 1 <= args.repeat <= 10 or not 1 <= args.writes <= 50
            or not all(1 <= size <= 1_000_000 for size in args.persist_sizes)):
        parser.error("--docs must be positive, --repeat 1-10, --writes 1-50, each persist size 1-1000000")
    return args


def main(argv):
    args = parse_args(argv)
    reason = chromium.missing_reason() or helpers.node_missing_reason()
    if reason is None and not (WEB_DIST / "pyodide.mjs").is_file():
        reason = "web/dist is not built: run `python build.py`"
    if reason:
        print(f"bench_web: cannot run: {reason}", file=sys.stderr)
        return 1
    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(prefix="browsercouch-bench-browser-") as tmp:
        try:
            run_all(args, Path(tmp), results)
        except measure_errors() as exc:
            results.setdefault("setup", exc)
            print(f"set-up FAILED: {exc}", flush=True)
    results["summary"] = report(results, args)
    results["seconds"] = time.monotonic() - started
    print(f"\nthe whole run took {results['seconds']:.0f} s")
    write_json(results, args)
    failed = [name for name, value in results.items() if isinstance(value, Exception)]
    failed += [name for name in ("ready", "pull", "persist") if name not in results]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
