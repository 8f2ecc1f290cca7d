"""Benchmark browsercouch against pouchdb-server 4.2.0 and Apache CouchDB 3.4.3, side by side, on 127.0.0.1.

    .venv/bin/python bench/bench_server.py [--docs 10000] [--gets 2000] [--repeat 3] [--clients 1,8,32]
                                           [--servers mem,file,pouchdb-server,couchdb-q1,couchdb-q2]
                                           [--metrics bulk,gets,changes,pull,push,load]
                                           [--load-requests 5000] [--load-seconds 20]
                                           [--candidate pouchdb-server] [--out FILE]

Servers, one at a time, each started and stopped inside the run: browsercouch ``--memory`` (``mem``) and
``--data TMPDIR`` (``file``), and the references: pouchdb-server in memory, and Apache CouchDB 3.4.3 from
``../shared/couchdb`` with one shard per database (``couchdb-q1``) and with its default two
(``couchdb-q2``); the CouchDB columns are left out, saying why, where it is absent. CouchDB's databases are
opened to anonymous clients, as browsercouch's loopback admin party is (``peers.py``). The run is
``--repeat`` rounds; each round starts every server in turn, warms it up and takes each metric once, and
a value is the median of its rounds (the machine's other load then falls on every column alike):

  bulk insert    ``--docs`` ~300-byte docs, ``_bulk_docs`` in batches of 500, one keep-alive connection
  GET            ``--gets`` sequential GETs of random docs on one keep-alive connection (``http.client``)
  _changes       one full ``_changes`` of the database, body read to the end (a new connection)
  PouchDB pull   ``tests/node/bench_pull.mjs``: the database into a fresh in-memory PouchDB
  PouchDB push   ``--docs`` docs from an in-memory PouchDB into a fresh database on the server
  N clients      for each N of ``--clients``: N keep-alive connections GETting random docs, each sending
                 its next request when its answer is read, ``--load-requests`` in all (at most
                 ``--load-seconds``): req/s and the 99th percentile latency. The client is ``load.py``
                 (asyncio, one thread); its ceiling against a canned server is measured first and printed,
                 and every run records the CPU the client itself used (in the JSON).

Tables (Markdown): the values; the ratio of each browsercouch column to each reference (rates
browsercouch / reference, times and latencies reference / browsercouch: above 1 means browsercouch is
faster); and issue 11's goals against CouchDB: >= 1.0x on every single-client metric, >= 0.5x at 32
clients. A goal missed is reported, not failed; a wrong answer (a status, a doc count) makes the exit code
non-zero. ``--candidate pouchdb-server`` puts pouchdb-server (memory, leveldb) in browsercouch's columns to
check the harness; ``BROWSERCOUCH_CMD`` replaces ``python -m browsercouch``. Results are also written as
JSON (``--out``, default ``bench/results/bench-<time>.json``).
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
import load  # noqa: E402
import peers  # noqa: E402

BENCH_PULL = helpers.NODE_DIR / "bench_pull.mjs"
BATCH = 500
WARMUP_DOCS = 500
# Untimed GETs per connection before the concurrent runs, so that every connection is warm.
WARMUP_LOAD_PER_CLIENT = 20
HTTP_TIMEOUT = 120
NODE_TIMEOUT = 600
CANDIDATE_SERVERS = ("mem", "file")
REFERENCE_SERVERS = ("pouchdb-server", "couchdb-q1", "couchdb-q2")
METRIC_GROUPS = ("bulk", "gets", "changes", "pull", "push", "load")
# Issue 11's goals against CouchDB: (metric keys, the ratio they must reach); "1" is the 1-client load.
SINGLE_CLIENT_GOAL = (("bulk", "gets", "changes", "pull", "push", "load1", "p99-1"), 1.0)
CONCURRENT_GOAL = (("load32", "p99-32"), 0.5)


class BenchError(Exception):
    """A measurement could not be taken or gave a wrong answer (e.g. fewer docs than written)."""


# What a failed measurement may raise; anything else is a bug in this script.
MEASURE_ERRORS = (BenchError, AssertionError, OSError, ValueError, IndexError, KeyError,
                  http.client.HTTPException, subprocess.TimeoutExpired, load.LoadError)


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


def metric_rows(clients):
    """The table's rows: ``(key, label, unit, higher is better)``."""
    rows = [
        ("bulk", "bulk insert", "docs/s", True),
        ("gets", "keep-alive GET", "req/s", True),
        ("changes", "_changes", "s", False),
        ("pull", "PouchDB pull", "docs/s", True),
        ("push", "PouchDB push", "docs/s", True),
    ]
    for n in clients:
        plural = "s" * (n > 1)
        rows += [(f"load{n}", f"GETs, {n} client{plural}", "req/s", True),
                 (f"p99-{n}", f"GET p99, {n} client{plural}", "ms", False)]
    return rows


def concurrent_gets(db_url, n_docs, clients, args, seed):
    """``{load<N>, p99-<N>, client-cpu-<N>}`` of one ``load.run_gets`` run with N = ``clients``."""
    doc_ids = [f"doc-{i:06d}" for i in range(n_docs)]
    run = load.run_gets(db_url, doc_ids, clients, args.load_requests, args.load_seconds, seed=seed)
    return {f"load{clients}": run.rate, f"p99-{clients}": run.p99_ms, f"client-cpu-{clients}": run.client_cpu}


def warm_up(server, docs, args):
    """JIT, imports, caches and connections, on a throwaway database, untimed: run order must not matter."""
    try:
        warm = peers.new_db(server, "warmup")
        bulk_insert(warm, docs[:WARMUP_DOCS])
        sequential_gets(warm, WARMUP_DOCS, min(len(docs), WARMUP_DOCS))
        if "load" in args.metrics:
            most = max(args.clients)
            ids = [doc["_id"] for doc in docs[:WARMUP_DOCS]]
            load.run_gets(warm, ids, most, most * WARMUP_LOAD_PER_CLIENT)
    except MEASURE_ERRORS as exc:
        print(f"    warm-up FAILED {exc}", flush=True)


def measure_server(server, args, seed):
    """One run of every metric ``args`` picks on a running server: ``{key: value}``, a failed one mapped to
    its error. ``seed`` varies the concurrent GETs' documents from one round to the next."""
    docs = make_docs(args.docs)
    n = args.docs
    filled = []  # the database reads go to: the one the timed bulk insert filled, or else one filled here

    def fresh_db():
        return peers.new_db(server, "bench")

    def bulk():
        db = fresh_db()
        seconds = bulk_insert(db, docs)
        filled.append(db)
        return {"bulk": n / seconds}

    def read_db():
        if not filled:
            filled.append(fresh_db())
            bulk_insert(filled[0], docs)
        return filled[0]

    warm_up(server, docs, args)
    # (metric group, keys given, measure() -> {key: value})
    steps = [
        ("bulk", ("bulk",), bulk),
        ("gets", ("gets",), lambda: {"gets": args.gets / sequential_gets(read_db(), args.gets, n)}),
        ("changes", ("changes",), lambda: {"changes": read_changes(read_db(), n)}),
        ("pull", ("pull",), lambda: {"pull": n / pouchdb("pull", read_db(), n)}),
        ("push", ("push",), lambda: {"push": n / pouchdb("push", fresh_db(), n)}),
        *(("load", (f"load{c}", f"p99-{c}"), lambda c=c: concurrent_gets(read_db(), n, c, args, seed))
          for c in args.clients),
    ]
    results = {}
    for group, keys, measure in steps:
        if group in args.metrics:
            try:
                results.update(measure())
            except MEASURE_ERRORS as exc:
                results.update(dict.fromkeys(keys, exc))
    print("    " + ", ".join(f"{key} {short_number(value)}" for key, value in results.items()), flush=True)
    for key, value in results.items():
        if isinstance(value, Exception):
            print(f"    {key} FAILED: {value}", flush=True)
    return results


def short_number(value):
    if isinstance(value, Exception):
        return "failed"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def client_ceiling(args):
    """What the load client drives against a server that does nothing: ``{N: {rate, p99, client_cpu}}``."""
    ceiling = {}
    with load.trivial_server() as url:
        for clients in args.clients:
            runs = [load.run_gets(url, ["doc-000001"], clients, args.load_requests, args.load_seconds)
                    for _ in range(args.repeat)]
            ceiling[clients] = {"rate": statistics.median(run.rate for run in runs),
                                "p99_ms": statistics.median(run.p99_ms for run in runs),
                                "client_cpu": statistics.median(run.client_cpu for run in runs)}
            print(f"    {clients} client(s): {ceiling[clients]['rate']:,.0f} req/s, p99 "
                  f"{ceiling[clients]['p99_ms']:.2f} ms, client CPU {ceiling[clients]['client_cpu']:.2f} s/s",
                  flush=True)
    return ceiling


def server_specs(args, workdir):
    """``[(column name, start() -> server, is a reference)]`` in run order, as ``--servers`` picks them."""
    if args.candidate == "pouchdb-server":
        candidates = {
            "mem": ("pouchdb-server* mem", lambda: helpers.start_pouchdb_server(workdir / "ps-mem")),
            "file": ("pouchdb-server* leveldb",
                     lambda: helpers.start_pouchdb_server(workdir / "ps-level", in_memory=False)),
        }
    else:
        candidates = {
            "mem": ("browsercouch mem", lambda: helpers.start_browsercouch()),
            "file": ("browsercouch file", lambda: helpers.start_browsercouch("--data", workdir / "bc-data")),
        }
    references = {"pouchdb-server": ("pouchdb-server mem",
                                     lambda: helpers.start_pouchdb_server(workdir / "reference"))}
    for (name, q), key in zip(peers.COUCHDB_COLUMNS, ("couchdb-q1", "couchdb-q2"), strict=True):
        references[key] = (name, lambda q=q: peers.start_couchdb(workdir, q))
    couchdb_missing = helpers.couchdb_missing_reason()
    if couchdb_missing and {"couchdb-q1", "couchdb-q2"} & set(args.servers):
        print(f"no CouchDB columns: {couchdb_missing}", flush=True)
    return [(*candidates[key], False) for key in CANDIDATE_SERVERS if key in args.servers] + [
        (*references[key], True) for key in REFERENCE_SERVERS
        if key in args.servers and not (key.startswith("couchdb") and couchdb_missing)]


def run_all(args, workdir):
    """``({column: {key: value}}, [reference columns])``. ``args.repeat`` rounds, each starting every server
    in turn and measuring each metric once; a value is the median of its rounds, so that load from
    elsewhere on the machine, which comes and goes, falls on every column alike."""
    specs = server_specs(args, workdir)
    rounds = {name: [] for name, *_ in specs}
    for round_no in range(args.repeat):
        for name, start, _ in specs:
            print(f"round {round_no + 1}/{args.repeat}, {name}:", flush=True)
            try:
                server = start()
            except RuntimeError as exc:
                print(f"    FAILED to start: {str(exc)[:2000]}", flush=True)
                rounds[name].append({key: exc for key, *_ in metric_rows(args.clients)})
                continue
            try:
                rounds[name].append(measure_server(server, args, seed=round_no))
            finally:
                server.stop()
    results = {name: combine(runs) for name, runs in rounds.items()}
    return results, [name for name, _, is_reference in specs if is_reference]


def combine(runs):
    """Each key's median over the rounds; a key that failed in any round is that round's error."""
    combined = {}
    for key in dict.fromkeys(key for run in runs for key in run):
        values = [run.get(key, BenchError(f"{key} was not measured in every round")) for run in runs]
        errors = [value for value in values if isinstance(value, Exception)]
        combined[key] = errors[0] if errors else statistics.median(values)
    return combined


def format_value(value, unit):
    if isinstance(value, Exception) or value is None:
        return "failed" if value is not None else "-"
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:.3f}" if unit in ("s", "s/s") else f"{value:,.0f}"


def ratio_value(value, reference, higher_is_better):
    """Candidate over reference, inverted for times: above 1 means the candidate is faster; or None."""
    numbers = isinstance(value, float | int) and isinstance(reference, float | int)
    if not numbers or not value or not reference:
        return None
    return value / reference if higher_is_better else reference / value


def short(name):
    return name.removeprefix("browsercouch ").removeprefix("pouchdb-server* ")


def markdown(rows):
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows[1:]])


def print_tables(results, reference_names, args):
    """The values, then every candidate-to-reference ratio, as Markdown tables."""
    names = list(results)
    candidates = [name for name in names if name not in reference_names]
    rows = [r for r in metric_rows(args.clients) if any(r[0] in results[name] for name in names)]
    values = [["metric", *names]] + [
        [f"{label} ({unit})", *(format_value(results[name].get(key), unit) for name in names)]
        for key, label, unit, _ in rows]
    pairs = [(c, r) for c in candidates for r in reference_names]
    ratios = [["metric", *(f"{short(c)} / {r}" for c, r in pairs)]] + [
        [label, *(_format_ratio(ratio_value(results[c].get(key), results[r].get(key), higher))
                  for c, r in pairs)]
        for key, label, unit, higher in rows]
    print(f"\n{markdown(values)}\n")
    if pairs:
        print(f"{markdown(ratios)}\n\nratio = candidate / reference (times and latencies inverted): "
              "above 1 means the candidate is faster")


def _format_ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def goal_report(results, reference_names):
    """Issue 11's goals, each browsercouch column against each CouchDB column: lines saying met or not."""
    lines = []
    for candidate in (name for name in results if name.startswith("browsercouch")):
        for reference in (name for name in reference_names if name.startswith("CouchDB")):
            for keys, target in (SINGLE_CLIENT_GOAL, CONCURRENT_GOAL):
                got = {key: ratio_value(results[candidate].get(key), results[reference].get(key),
                                        not key.startswith(("p99", "changes")))
                       for key in keys if key in results[candidate] and key in results[reference]}
                if not got:
                    continue
                missed = [f"{key} {_format_ratio(value)}" for key, value in got.items()
                          if value is None or value < target]
                what = "single client" if target == SINGLE_CLIENT_GOAL[1] else "32 clients"
                verdict = f"met ({', '.join(got)})" if not missed else "NOT met: " + ", ".join(missed)
                lines.append(f"goal {candidate} / {reference}, {what} >= {target}x: {verdict}")
    return lines


def write_json(results, ceiling, args):
    out = Path(args.out) if args.out else (
        Path(__file__).resolve().parent / "results" / time.strftime("bench-%Y%m%d-%H%M%S.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "args": vars(args),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "client_ceiling": ceiling,
        "results": {name: {key: (str(value) if isinstance(value, Exception) else value)
                           for key, value in metrics.items()} for name, metrics in results.items()},
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results written to {out}")


def _names(text, allowed, what):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(names) - set(allowed)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{what}: pick from {', '.join(allowed)} (got {text!r})")
    return names


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000, help="documents per database (default 10000)")
    parser.add_argument("--gets", type=int, default=2_000, help="sequential GETs (default 2000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds over all servers, each metric's median taken (default 3)")
    parser.add_argument("--servers", default=",".join(CANDIDATE_SERVERS + REFERENCE_SERVERS),
                        type=lambda text: _names(text, CANDIDATE_SERVERS + REFERENCE_SERVERS, "--servers"),
                        help="columns to run, comma-separated (default all: %(default)s)")
    parser.add_argument("--metrics", default=",".join(METRIC_GROUPS),
                        type=lambda text: _names(text, METRIC_GROUPS, "--metrics"),
                        help="metrics to take, comma-separated (default all: %(default)s)")
    parser.add_argument("--clients", default="1,8,32", type=lambda text: [int(n) for n in text.split(",")],
                        help="concurrent keep-alive connections of the load metric (default 1,8,32)")
    parser.add_argument("--load-requests", type=int, default=5_000,
                        help="GETs per concurrent run, all connections together (default 5000)")
    parser.add_argument("--load-seconds", type=float, default=20.0,
                        help="longest a concurrent run may take, in seconds (default 20)")
    parser.add_argument("--candidate", choices=("browsercouch", "pouchdb-server"), default="browsercouch",
                        help="what fills the candidate columns (pouchdb-server: check the harness)")
    parser.add_argument("--out", help="JSON results file (default bench/results/bench-<time>.json)")
    args = parser.parse_args(argv)
    if args.docs < 1 or args.gets < 1 or not 1 <= args.repeat <= 10:
        parser.error("--docs and --gets must be positive, --repeat between 1 and 10")
    load_ok = all(1 <= n <= 256 for n in args.clients) and args.load_requests >= 1
    if not load_ok or not 0 < args.load_seconds <= 600:
        parser.error("--clients between 1 and 256, --load-requests positive, --load-seconds in (0, 600]")
    return args


def main(argv):
    args = parse_args(argv)
    reason = helpers.node_missing_reason()
    if reason:
        print(f"cannot run the reference or PouchDB: {reason}", file=sys.stderr)
        return 1
    ceiling = {}
    if "load" in args.metrics:
        print("load client against a canned server (its ceiling):", flush=True)
        try:
            ceiling = client_ceiling(args)
        except load.LoadError as exc:
            print(f"    FAILED {exc}", flush=True)
    with tempfile.TemporaryDirectory(prefix="browsercouch-bench-") as tmp:
        results, reference_names = run_all(args, Path(tmp))
    print(f"\n{time.strftime('%Y-%m-%d')}: {args.docs:,} docs, median of {args.repeat}")
    print_tables(results, reference_names, args)
    for line in goal_report(results, reference_names):
        print(line)
    write_json(results, ceiling, args)
    failed = any(isinstance(v, Exception) for metrics in results.values() for v in metrics.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
