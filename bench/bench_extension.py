"""Benchmark the extension shell (Chromium serving through the socket bridge) against the native server.

    .venv/bin/python bench/bench_extension.py [--docs 10000] [--gets 2000] [--mb 10] [--repeat 3]
                                              [--transfers 5] [--out FILE]

Five servers, one at a time, all on 127.0.0.1, each measured the same way in this one run:

  extension     ``browsercouch browser --headless`` on a fresh profile (``helpers.start_browser_server``):
                TCP -> the bridge (``bridge/host.py``) -> WebSocket -> the SharedWorker's Pyodide
                (``web/serving.js``, ``browser/channel.py``) -> the HTTP driver -> CouchApp -> SQLite in
                Emscripten's memory FS, every write saved to OPFS (a file writer in a dedicated
                worker, web/opfs-writer.js) before it is acknowledged
  bridge+py     the same bridge process with the same page side (``browser.channel.ChannelServer`` serving
                ``CouchApp`` on a memory store) in CPython, in a subprocess of this script: the shell
                without Chromium and Pyodide
  bridge only   the same bridge with the test harness's canned page (``tests/bridge/harness.py``,
                ``http_app``: ``/hello``, ``/upload`` hashes the body, ``/download/N``): the byte pump alone
  native mem    ``browsercouch serve --memory`` (uvicorn)
  native file   ``browsercouch serve --data TMP``: the native server as it runs by default, durable like
                the tab, the reference for the pull goal

Metrics (``--repeat`` runs, median; transfers: ``--transfers`` runs, median):

  GET           ``--gets`` sequential keep-alive GETs of random ~300-byte docs (bridge only: ``/hello``)
  upload        PUT of an ``--mb`` MB attachment into a fresh database (bridge only: ``/upload``), answer read
  download      GET of that attachment, checked byte for byte (bridge only: ``/download/N``)
  PouchDB pull  ``tests/node/bench_pull.mjs``: ``--docs`` docs into a fresh in-memory PouchDB (not on the
                canned page)

Goals (issue 5): the extension serves >= 600 GETs/s and uploads >= 100 MB/s, and PouchDB pulls from it at
>= 0.5x the native server's docs/s (the default, file-backed ``browsercouch serve``: both sides durable).
A goal missed is reported, not failed; a wrong answer (a
status, a byte, a doc count) makes the exit code non-zero. Results go to JSON (``--out``, default
``bench/results/extension-<time>.json``). ``--page canned|couch`` is internal: it runs the bridge+page
server of the two middle columns (started by this script as a subprocess).
"""

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
import helpers  # noqa: E402 - the shared server starters live with the tests
from bench_server import bulk_insert, make_docs, pouchdb, sequential_gets  # noqa: E402

HTTP_TIMEOUT = 120
WARMUP_GETS = 300
WARMUP_MB = 1
# The bridge+page servers: how long the page waits for the browser's stand-in, and its longest life.
PAGE_START_TIMEOUT = 30
PAGE_LIFETIME = 900
# (column, what it runs); the reference column is the one ratios are taken against.
COLUMNS = ("extension", "bridge+py", "bridge only", "native mem", "native file")
REFERENCE = "native file"
# (key, label, unit)
METRICS = (("gets", "keep-alive GET", "req/s"), ("upload", "upload", "MB/s"),
           ("download", "download", "MB/s"), ("pull", "PouchDB pull", "docs/s"))
# Issue 5's goals for the extension column: (key, kind, target); "rate" is absolute, "ratio" vs REFERENCE.
GOALS = (("gets", "rate", 600), ("upload", "rate", 100), ("pull", "ratio", 0.5))


class BenchError(Exception):
    """A measurement could not be taken or gave a wrong answer (a status, a byte, a doc count)."""


MEASURE_ERRORS = (BenchError, OSError, ValueError, KeyError, IndexError, AssertionError,
                  http.client.HTTPException, subprocess.TimeoutExpired)


class NotApplicable(Exception):
    """This column cannot take this measurement (the canned page holds no databases)."""


# --- the bridge + page servers (``--page``) ---------------------------------------------------------------

class CouchPage:
    """The page side of the shell in CPython: ``browser.channel.ChannelServer`` serving ``CouchApp`` on a
    memory store, over the bridge's channel at ``url``, in a thread with its own event loop."""

    def __init__(self, url, origin):
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(url, origin), self._loop).result(PAGE_START_TIMEOUT)

    async def _start(self, url, origin):
        from websockets.asyncio.client import connect

        from browsercouch.api import CouchApp
        from browsercouch.store import Couch
        from browsercouch.tab.channel import ChannelServer

        ws = await connect(url, origin=origin, compression=None, max_size=None, ping_interval=None)
        outbox = asyncio.Queue()
        channel = ChannelServer(CouchApp(Couch()), outbox.put_nowait)

        async def send():
            while True:
                await ws.send(await outbox.get())

        async def receive():
            async for message in ws:
                channel.receive(message)

        self._tasks = [asyncio.ensure_future(send()), asyncio.ensure_future(receive())]


def serve_page(kind):
    """Run the bridge with a CPython page (``canned`` or ``couch``) until SIGTERM, until this script's
    parent is gone, or for ``PAGE_LIFETIME`` seconds at most."""
    from bridge.harness import ORIGIN, BridgeProcess, Page, http_app  # tests/bridge/harness.py

    parent = os.getppid()
    bridge = BridgeProcess("--channel-wait", "5")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        port = bridge.listen()
        page = Page(bridge.channel, app=http_app) if kind == "canned" else CouchPage(bridge.channel, ORIGIN)
        # The ready line helpers' server starters wait for.
        print(f"browsercouch listening on http://127.0.0.1:{port}/ (bridge + {kind} page in CPython)",
              flush=True)
        for _ in range(PAGE_LIFETIME):
            if stop.wait(1) or os.getppid() != parent:
                break
        if kind == "canned":
            page.stop()
    finally:
        bridge.stop()
    return 0


def start_page_server(kind):
    """``serve_page(kind)`` in a subprocess (its own GIL, as the bridge and the tab have their own CPU):
    a ``helpers.ServerProcess`` once it serves."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--page", kind]
    return helpers._start(cmd, PAGE_START_TIMEOUT, f"bridge + {kind} page")


# --- measurements -----------------------------------------------------------------------------------------

class Connection:
    """One keep-alive HTTP/1.1 connection to a loopback server."""

    def __init__(self, base_url):
        parts = urllib.parse.urlsplit(base_url)
        helpers._require_loopback(parts.hostname)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self):
        self.conn.close()


def hello_gets(base_url, count):
    """Seconds for ``count`` sequential ``GET /hello`` of the canned page on one connection."""
    conn = Connection(base_url)
    try:
        started = time.perf_counter()
        for _ in range(count):
            status, body = conn.request("GET", "/hello")
            if status != 200 or not body.startswith(b"hello "):
                raise BenchError(f"GET /hello answered {status}: {body[:200]!r}")
        return time.perf_counter() - started
    finally:
        conn.close()


def transfer(base_url, blob, canned):
    """``(upload seconds, download seconds)`` of ``blob``: a PUT of it as an attachment of a doc in a fresh
    database, then a GET of it, checked byte for byte; the database is deleted afterwards. On the canned
    page: ``PUT /upload`` (its answer has the body's size and sha256) and ``GET /download/N``."""
    if canned:
        return canned_transfer(base_url, blob)
    db_url = helpers.new_db(base_url, "blob")
    path = urllib.parse.urlsplit(db_url).path + "/doc/blob"
    conn = Connection(base_url)
    try:
        started = time.perf_counter()
        status, body = conn.request("PUT", path, blob, {"Content-Type": "application/octet-stream"})
        upload = time.perf_counter() - started
        if status != 201:
            raise BenchError(f"PUT {path} answered {status}: {body[:300]!r}")
        started = time.perf_counter()
        status, body = conn.request("GET", path, headers={"Accept": "*/*"})
        download = time.perf_counter() - started
        if status != 200 or body != blob:
            raise BenchError(f"GET {path} answered {status} with {len(body)} bytes, not the {len(blob)} sent")
    finally:
        conn.close()
    status, _, answer = helpers.http("DELETE", db_url, timeout=HTTP_TIMEOUT)
    if status != 200:
        raise BenchError(f"DELETE {db_url} answered {status}: {answer!r}")
    return upload, download


def canned_transfer(base_url, blob):
    from bridge.harness import pattern_digest  # tests/bridge/harness.py

    conn = Connection(base_url)
    try:
        started = time.perf_counter()
        status, body = conn.request("PUT", "/upload", blob, {"Content-Type": "application/octet-stream"})
        upload = time.perf_counter() - started
        answer = json.loads(body) if status == 200 else {}
        if (answer.get("size"), answer.get("sha256")) != (len(blob), hashlib.sha256(blob).hexdigest()):
            raise BenchError(f"PUT /upload answered {status}: {body[:300]!r}")
        started = time.perf_counter()
        status, body = conn.request("GET", f"/download/{len(blob)}")
        download = time.perf_counter() - started
        if status != 200 or hashlib.sha256(body).hexdigest() != pattern_digest(len(blob)):
            raise BenchError(f"GET /download answered {status} with {len(body)} wrong bytes")
    finally:
        conn.close()
    return upload, download


def fill(base_url, docs):
    """A database holding ``docs`` (``_bulk_docs``, batches of 500); return its URL."""
    db_url = helpers.new_db(base_url, "bench")
    bulk_insert(db_url, docs)
    status, _, info = helpers.http("GET", db_url, timeout=HTTP_TIMEOUT)
    if status != 200 or info.get("doc_count") != len(docs):
        raise BenchError(f"the database holds {info!r}, expected {len(docs)} docs")
    return db_url


class ServerBench:
    """Every metric for one running server at ``base_url``; ``canned``: the canned page (no databases)."""

    def __init__(self, base_url, canned, args, blob):
        self.url, self.canned, self.args, self.blob = base_url, canned, args, blob
        self.db_url = None  # the filled database, once gets() made it
        self.runs = []  # (upload s, download s) per transfer

    def run(self):
        """``{key: value or exception}`` for every metric, after an untimed warm-up."""
        try:
            self.warm_up()
        except MEASURE_ERRORS as exc:
            print(f"    warm-up FAILED {exc}", flush=True)
        results = {}
        for key, label, unit in METRICS:
            try:
                results[key] = getattr(self, key)()
                print(f"    {label}: {results[key]:,.0f} {unit}", flush=True)
            except NotApplicable as exc:
                results[key] = exc
            except MEASURE_ERRORS as exc:
                results[key] = exc
                print(f"    {label}: FAILED {exc}", flush=True)
        return results

    def warm_up(self):
        """Imports, caches, the first persist: untimed."""
        if self.canned:
            hello_gets(self.url, WARMUP_GETS)
        else:
            warm = fill(self.url, make_docs(WARMUP_GETS, seed=9))
            sequential_gets(warm, WARMUP_GETS, WARMUP_GETS)
        transfer(self.url, os.urandom(WARMUP_MB << 20), self.canned)

    def gets(self):
        args = self.args
        if self.canned:
            return args.gets / statistics.median(hello_gets(self.url, args.gets) for _ in range(args.repeat))
        self.db_url = fill(self.url, make_docs(args.docs))
        times = [sequential_gets(self.db_url, args.gets, args.docs, seed=2 + i) for i in range(args.repeat)]
        return args.gets / statistics.median(times)

    def upload(self):
        self.runs = [transfer(self.url, self.blob, self.canned) for _ in range(self.args.transfers)]
        return len(self.blob) / 1e6 / statistics.median(up for up, _ in self.runs)

    def download(self):
        if not self.runs:
            raise BenchError("no upload succeeded, so there is nothing to download")
        return len(self.blob) / 1e6 / statistics.median(down for _, down in self.runs)

    def pull(self):
        if self.canned:
            raise NotApplicable("the canned page holds no database")
        if self.db_url is None:
            raise BenchError("the database to pull was not filled")
        n = self.args.docs
        return n / statistics.median(pouchdb("pull", self.db_url, n) for _ in range(self.args.repeat))


def starters(workdir):
    return {
        "extension": lambda: helpers.start_browser_server(workdir / "profile"),
        "bridge+py": lambda: start_page_server("couch"),
        "bridge only": lambda: start_page_server("canned"),
        "native mem": lambda: helpers.start_browsercouch(),
        "native file": lambda: helpers.start_browsercouch("--data", str(workdir / "native-data")),
    }


def run_all(args, workdir):
    blob = os.urandom(int(args.mb * (1 << 20)))
    results = {}
    for name, start in starters(workdir).items():
        print(f"{name}:", flush=True)
        started = time.monotonic()
        try:
            server = start()
        except RuntimeError as exc:
            print(f"    FAILED to start: {str(exc)[:2000]}", flush=True)
            results[name] = {key: exc for key, *_ in METRICS}
            continue
        try:
            print(f"    serving after {time.monotonic() - started:.1f} s", flush=True)
            results[name] = ServerBench(server.url, name == "bridge only", args, blob).run()
        finally:
            server.stop()
    return results


# --- report -----------------------------------------------------------------------------------------------

def cell(value):
    if isinstance(value, NotApplicable):
        return "n/a"
    return "failed" if isinstance(value, Exception) else f"{value:,.0f}"


def ratio(value, reference):
    if isinstance(value, Exception) or isinstance(reference, Exception) or not reference:
        return None
    return value / reference


def print_table(title, rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"\n{title}")
    for i, row in enumerate(rows):
        print(" | ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)))
        if i == 0:
            print("-+-".join("-" * width for width in widths))


def goal_verdicts(results):
    """``{key: (text, met)}`` for the extension column."""
    verdicts = {}
    for key, kind, target in GOALS:
        value = results["extension"][key]
        if kind == "ratio":
            value = ratio(value, results[REFERENCE][key])
        if value is None or isinstance(value, Exception):
            verdicts[key] = ("failed", False)
            continue
        shown = f"{value:.3f}x" if kind == "ratio" else f"{value:,.0f}"
        met = value >= target
        verdicts[key] = (f"{shown} vs >= {target}{'x' if kind == 'ratio' else ''}: "
                         f"{'met' if met else 'MISSED'}", met)
    return verdicts


def report(results, args):
    units = {key: unit for key, _, unit in METRICS}
    verdicts = goal_verdicts(results)
    header = ["metric", *COLUMNS, "ext / native mem", "ext / native file", "ext / bridge+py",
              "goal (extension)"]
    rows = [header]
    for key, label, unit in METRICS:
        values = [results[name][key] for name in COLUMNS]
        ratios = [ratio(results["extension"][key], results[name][key])
                  for name in ("native mem", "native file", "bridge+py")]
        rows.append([f"{label} ({unit})", *(cell(v) for v in values),
                     *("-" if r is None else f"{r:.2f}x" for r in ratios),
                     verdicts.get(key, ("-", True))[0]])
    print_table(f"extension shell vs native browsercouch: {args.gets:,} GETs (median of {args.repeat}), "
                f"{args.mb:g} MB transfers (median of {args.transfers}), pull of {args.docs:,} docs "
                f"(median of {args.repeat})", rows)
    print(f"units: {', '.join(f'{label} {units[key]}' for key, label, _ in METRICS)}; ratio above 1 means "
          "the extension is faster")
    met = [key for key, (_, ok) in verdicts.items() if ok]
    print(f"goals met: {', '.join(met) or 'none'}; missed: "
          f"{', '.join(key for key in verdicts if key not in met) or 'none'}")
    return {key: {"text": text, "met": ok} for key, (text, ok) in verdicts.items()}


def write_json(results, verdicts, run, args):
    out = Path(args.out) if args.out else BENCH / "results" / time.strftime("extension-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"args": vars(args), **run, "goals": verdicts, "results": {
        name: {key: (str(value) if isinstance(value, Exception) else value) for key, value in row.items()}
        for name, row in results.items()}}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results written to {out}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000, help="docs pulled by PouchDB (default 10000)")
    parser.add_argument("--gets", type=int, default=2_000, help="sequential GETs per run (default 2000)")
    parser.add_argument("--mb", type=float, default=10, help="attachment size in MB (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="GET and pull runs, median taken (default 3)")
    parser.add_argument("--transfers", type=int, default=5,
                        help="upload/download runs, median taken (default 5)")
    parser.add_argument("--out", help="JSON results file (default bench/results/extension-<time>.json)")
    parser.add_argument("--page", choices=("canned", "couch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (not 1 <= args.docs <= 100_000 or not 1 <= args.gets <= 100_000 or not 0 < args.mb <= 256
            or not 1 <= args.repeat <= 10 or not 1 <= args.transfers <= 20):
        parser.error("--docs and --gets 1-100000, --mb up to 256, --repeat 1-10, --transfers 1-20")
    return args


def missing_reason():
    from browsercouch import launcher

    return launcher.missing_reason() or helpers.node_missing_reason()


def main(argv):
    args = parse_args(argv)
    if args.page:
        return serve_page(args.page)
    reason = missing_reason()
    if reason:
        print(f"bench_extension: cannot run: {reason}", file=sys.stderr)
        return 1
    started, load = time.monotonic(), [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="browsercouch-bench-extension-") as tmp:
        results = run_all(args, Path(tmp))
    load.append(os.getloadavg()[0])
    verdicts = report(results, args)
    seconds = time.monotonic() - started
    # A shared machine's other work shows here: every column runs on the same few cores.
    print(f"\nthe whole run took {seconds:.0f} s; load average {load[0]:.2f} at the start, "
          f"{load[1]:.2f} at the end ({os.cpu_count()} CPUs)")
    write_json(results, verdicts, {"seconds": seconds, "load_average": load, "cpus": os.cpu_count()}, args)
    failed = any(isinstance(value, Exception) and not isinstance(value, NotApplicable)
                 for row in results.values() for value in row.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
