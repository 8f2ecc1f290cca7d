"""Benchmark browsercouch against pouchdb-server 4.2.0, side by side, all on 127.0.0.1.

    .venv/bin/python bench/bench_server.py [--docs 10000] [--gets 2000] [--repeat 3]
                                           [--candidate pouchdb-server] [--out FILE]

Servers, one at a time: browsercouch ``--memory``, browsercouch ``--data TMPDIR`` and the reference,
pouchdb-server in memory. For each (median of ``--repeat`` runs):

  bulk insert    ``--docs`` ~300-byte docs, ``_bulk_docs`` in batches of 500, one keep-alive connection
  GET            ``--gets`` sequential GETs of random docs on one keep-alive connection
  _changes       one full ``_changes`` of the database, body read to the end (a new connection)
  PouchDB pull   ``tests/node/bench_pull.mjs``: the database into a fresh in-memory PouchDB
  PouchDB push   ``--docs`` docs from an in-memory PouchDB into a fresh database on the server

The table's ratio is browsercouch / reference for rates and reference / browsercouch for times: above 1
means browsercouch is faster. ``--candidate pouchdb-server`` puts pouchdb-server (memory, leveldb) in
browsercouch's columns to check the harness; ``BROWSERCOUCH_CMD`` replaces ``python -m browsercouch``.
Results are also written as JSON (``--out``, default ``bench/results/bench-<time>.json``).
"""

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import helpers  # noqa: E402 - the shared server starters live with the tests

BENCH_PULL = helpers.NODE_DIR / "bench_pull.mjs"
BATCH = 500
WARMUP_DOCS = 500
HTTP_TIMEOUT = 120
NODE_TIMEOUT = 600
# (key, label, unit, higher is better)
METRICS = (
    ("bulk", "bulk insert", "docs/s", True),
    ("gets", "keep-alive GET", "req/s", True),
    ("changes", "_changes", "s", False),
    ("pull", "PouchDB pull", "docs/s", True),
    ("push", "PouchDB push", "docs/s", True),
)


class BenchError(Exception):
    """A measurement could not be taken or gave a wrong answer (e.g. fewer docs than written)."""


# What a failed measurement may raise; anything else is a bug in this script.
MEASURE_ERRORS = (BenchError, AssertionError, OSError, ValueError, IndexError, KeyError,
                  http.client.HTTPException, subprocess.TimeoutExpired)


class Connection:
    """One persistent HTTP/1.1 connection to a loopback server; ``request`` returns ``(status, body)``."""

    def __init__(self, base_url):
        parts = urllib.parse.urlsplit(base_url)
        helpers._require_loopback(parts.hostname)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT)

    def request(self, method, path, body=None):
        headers = {"Accept": "application/json"}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def close(self):
        self.conn.close()


def make_docs(count, seed=1):
    rng = random.Random(seed)
    return [{"_id": f"doc-{i:06d}", "type": "bench", "n": i, "payload": rng.randbytes(96).hex()}
            for i in range(count)]


def bulk_insert(db_url, docs):
    """Seconds to write ``docs`` with ``_bulk_docs`` in batches of ``BATCH`` on one connection."""
    conn = Connection(db_url)
    path = urllib.parse.urlsplit(db_url).path + "/_bulk_docs"
    try:
        started = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            status, body = conn.request("POST", path, {"docs": docs[i:i + BATCH]})
            rows = json.loads(body)
            if status != 201 or any("error" in row for row in rows):
                raise BenchError(f"_bulk_docs answered {status}: {body[:300]!r}")
        return time.perf_counter() - started
    finally:
        conn.close()


def sequential_gets(db_url, count, n_docs, seed=2):
    """Seconds for ``count`` GETs of random docs on one keep-alive connection."""
    rng = random.Random(seed)
    paths = [urllib.parse.urlsplit(db_url).path + f"/doc-{rng.randrange(n_docs):06d}" for _ in range(count)]
    conn = Connection(db_url)
    try:
        started = time.perf_counter()
        for path in paths:
            status, body = conn.request("GET", path)
            if status != 200:
                raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
        return time.perf_counter() - started
    finally:
        conn.close()


def read_changes(db_url, n_docs):
    """Seconds for one full ``_changes`` (new connection, body read to the end)."""
    conn = Connection(db_url)
    try:
        started = time.perf_counter()
        status, body = conn.request("GET", urllib.parse.urlsplit(db_url).path + "/_changes")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    results = json.loads(body).get("results", []) if status == 200 else []
    if len(results) != n_docs:
        raise BenchError(f"_changes answered {status} with {len(results)} rows, expected {n_docs}")
    return elapsed


def pouchdb(mode, db_url, n_docs):
    """Seconds PouchDB (Node) takes to ``pull`` from or ``push`` ``n_docs`` docs to ``db_url``."""
    cmd = ["node", str(BENCH_PULL), mode, db_url, "--docs", str(n_docs)]
    proc = subprocess.run(cmd, cwd=helpers.NODE_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT)
    if proc.returncode != 0:
        raise BenchError(f"bench_pull.mjs {mode} failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["docs_written"] != n_docs:
        raise BenchError(f"PouchDB {mode} wrote {result['docs_written']} docs, expected {n_docs}")
    return result["seconds"]


def median_of(repeat, measure):
    return statistics.median(measure() for _ in range(repeat))


def measure_server(base_url, args):
    """All metrics for one running server: ``{key: value}``; a failed metric maps to ``BenchError``."""
    docs = make_docs(args.docs)
    n = args.docs
    dbs = []

    def fresh_db():
        dbs.append(helpers.new_db(base_url, "bench"))
        return dbs[-1]

    # Warm up (JIT, imports, caches) on a throwaway database, untimed, so run order does not matter.
    try:
        warm = helpers.new_db(base_url, "warmup")
        bulk_insert(warm, docs[:WARMUP_DOCS])
        sequential_gets(warm, WARMUP_DOCS, min(n, WARMUP_DOCS))
    except MEASURE_ERRORS as exc:
        print(f"    warm-up FAILED {exc}", flush=True)

    steps = {
        "bulk": lambda: n / median_of(args.repeat, lambda: bulk_insert(fresh_db(), docs)),
        "gets": lambda: args.gets / median_of(args.repeat, lambda: sequential_gets(dbs[0], args.gets, n)),
        "changes": lambda: median_of(args.repeat, lambda: read_changes(dbs[0], n)),
        "pull": lambda: n / median_of(args.repeat, lambda: pouchdb("pull", dbs[0], n)),
        "push": lambda: n / median_of(args.repeat, lambda: pouchdb("push", fresh_db(), n)),
    }
    results = {}
    for key, label, unit, _ in METRICS:
        try:
            results[key] = steps[key]()
            print(f"    {label}: {format_value(results[key], unit)} {unit}", flush=True)
        except MEASURE_ERRORS as exc:
            results[key] = exc
            print(f"    {label}: FAILED {exc}", flush=True)
    return results


def server_specs(candidate, workdir):
    """``[(column name, start() -> ServerProcess)]``; the last one is the reference."""
    reference = ("pouchdb-server mem", lambda: helpers.start_pouchdb_server(workdir / "reference"))
    if candidate == "pouchdb-server":
        return [
            ("pouchdb-server* mem", lambda: helpers.start_pouchdb_server(workdir / "ps-mem")),
            ("pouchdb-server* leveldb",
             lambda: helpers.start_pouchdb_server(workdir / "ps-level", in_memory=False)),
            reference,
        ]
    return [
        ("browsercouch mem", lambda: helpers.start_browsercouch()),
        ("browsercouch file", lambda: helpers.start_browsercouch("--data", workdir / "bc-data")),
        reference,
    ]


def run_all(args, workdir):
    results = {}
    for name, start in server_specs(args.candidate, workdir):
        print(f"{name}:", flush=True)
        try:
            server = start()
        except RuntimeError as exc:
            print(f"    FAILED to start: {str(exc)[:2000]}", flush=True)
            results[name] = {key: exc for key, *_ in METRICS}
            continue
        try:
            results[name] = measure_server(server.url, args)
        finally:
            server.stop()
    return results


def format_value(value, unit):
    if isinstance(value, Exception):
        return "failed"
    return f"{value:.3f}" if unit == "s" else f"{value:,.0f}"


def ratio(value, reference, higher_is_better):
    if isinstance(value, Exception) or isinstance(reference, Exception) or not value or not reference:
        return "-"
    return f"{(value / reference if higher_is_better else reference / value):.2f}x"


def print_table(results):
    names = list(results)
    candidates, reference = names[:-1], names[-1]
    header = ["metric", *names, *(f"ratio {name.rsplit(' ', 1)[-1]}" for name in candidates)]
    rows = [header]
    for key, label, unit, higher in METRICS:
        values = [results[name][key] for name in names]
        rows.append([f"{label} ({unit})", *(format_value(v, unit) for v in values),
                     *(ratio(results[name][key], results[reference][key], higher) for name in candidates)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    for i, row in enumerate(rows):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if i == 0:
            print("-+-".join("-" * width for width in widths))
    print(f"\nratio = candidate / {reference} (times inverted): above 1 means the candidate is faster")


def write_json(results, args):
    out = Path(args.out) if args.out else (
        Path(__file__).resolve().parent / "results" / time.strftime("bench-%Y%m%d-%H%M%S.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "args": vars(args),
        "results": {name: {key: (str(value) if isinstance(value, Exception) else value)
                           for key, value in metrics.items()} for name, metrics in results.items()},
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results written to {out}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000, help="documents per database (default 10000)")
    parser.add_argument("--gets", type=int, default=2_000, help="sequential GETs (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per metric, median taken (default 3)")
    parser.add_argument("--candidate", choices=("browsercouch", "pouchdb-server"), default="browsercouch",
                        help="what fills the candidate columns (pouchdb-server: check the harness)")
    parser.add_argument("--out", help="JSON results file (default bench/results/bench-<time>.json)")
    args = parser.parse_args(argv)
    if args.docs < 1 or args.gets < 1 or not 1 <= args.repeat <= 10:
        parser.error("--docs and --gets must be positive, --repeat between 1 and 10")
    return args


def main(argv):
    args = parse_args(argv)
    reason = helpers.node_missing_reason()
    if reason:
        print(f"cannot run the reference or PouchDB: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="browsercouch-bench-") as tmp:
        results = run_all(args, Path(tmp))
    print_table(results)
    write_json(results, args)
    failed = any(isinstance(v, Exception) for metrics in results.values() for v in metrics.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
