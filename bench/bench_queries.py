"""Benchmark queries: browsercouch natively and in the tab beside Apache CouchDB 3.4.3 and pouchdb-server,
in the same run, on 127.0.0.1.

    .venv/bin/python bench/bench_queries.py [--docs 100000] [--queries 200] [--scans 5]
                                            [--servers file,tab,couchdb-q1,couchdb-q2,pouchdb-server]
                                            [--sections MANGO,VIEWS] [--out FILE]

One section per kind of query; each fills rows of the same table:

- ``MANGO`` (``mango_metrics``): ``--docs`` documents (``{"n", "group", "name", "nested": {"v"}}``) loaded
  with ``_bulk_docs``, then ``_find``:

  index build     ``POST /_index`` on ``["group", "n"]`` and ``["n"]``, then the first query that uses each
                  (CouchDB and browsercouch both build an index when a query first needs it), seconds
  indexed =       ``{"n": K}``: one document, by the ``["n"]`` index, ms per query
  indexed range   ``{"group": G, "n": {"$gt": K}}``, limit 25, by ``["group", "n"]``, ms per query
  indexed sort    ``{"n": {"$gte": K}}`` sorted by ``n``, limit 25, ms per query
  no index        ``{"name": "nobody"}``: no index, so every document is read (``_all_docs``), ms per query

  ``--queries`` queries of each indexed kind (random K, G) and ``--scans`` of the full scan, one keep-alive
  connection, answers read to the end and checked (the same documents from every server); a value is the
  median.
- ``VIEWS`` (``view_metrics``): a design document with two JavaScript map functions over the same
  documents, one with ``_count``:

  view build      the first query of the view (the whole index built: both views share one), docs/s
  view key        ``GET .../_view/by_n?key=K``: one row, req/s on one keep-alive connection
  view group      ``GET .../_view/by_group?group=true&startkey=G&endkey=G``: one reduced row, req/s

Servers, one at a time: browsercouch ``--data TMPDIR`` (``file``; ``mem`` for ``--memory``); the tab
(``tab``: ``browsercouch browser --headless`` on a fresh profile, reached over TCP through the extension's
bridge, SQLite in Pyodide saved to OPFS); Apache CouchDB 3.4.3 from ``../shared/couchdb`` with one shard
(``couchdb-q1``) and two (``couchdb-q2``, its default); npm's pouchdb-server 4.2.0 on LevelDB
(``pouchdb-server``). A server that cannot run here is left out, saying why; a section a server cannot
answer (an error status, a time-out) leaves its cells empty, saying why, and the run goes on. Answers are
compared with CouchDB's (the first server's without it): a browsercouch column that differs makes the exit
code non-zero; a reference that differs is reported (pouchdb-server 4.2.0 answers a few ``$gt`` range
queries with 24 documents of 25: it applies ``limit`` before dropping the row equal to the bound). The ratio
columns are the reference's time over ours (rates: ours over the reference's) for each of ours (``file``,
``mem``, ``tab``) against each reference: above 1 means browsercouch is faster (issue 16's goal: native
>= 1.0x CouchDB on indexed queries and view build). Results also go to ``--out`` as JSON (default
``bench/results/queries-<time>.json``).
"""

import argparse
import base64
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import helpers  # noqa: E402 - the shared server starters live with the tests
import peers  # noqa: E402

BATCH = 1000
HTTP_TIMEOUT = 600
RESULTS = Path(__file__).resolve().parent / "results"
GROUPS = 100
NAMES = 1000
INDEXES = ({"index": {"fields": ["group", "n"]}, "ddoc": "bench", "name": "group-n"},
           {"index": {"fields": ["n"]}, "ddoc": "bench-n", "name": "n"})


class Client:
    """One keep-alive connection to a database (credentials in its URL become Basic auth)."""

    def __init__(self, db_url):
        parts = urllib.parse.urlsplit(db_url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if parts.username:
            credentials = f"{parts.username}:{parts.password}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()

    def post(self, path, body):
        self.conn.request("POST", self.path + path, body=json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        payload = json.loads(response.read())
        if response.status not in (200, 201):
            raise AssertionError(f"POST {path} answered {response.status}: {payload}")
        return payload

    def get(self, path, *, retry_timeouts=0):
        """The JSON of a GET. CouchDB answers 500 ``timeout`` to a view query whose index takes more than
        its request timeout to build (and goes on building): ``retry_timeouts`` times it is asked again."""
        for _ in range(retry_timeouts + 1):
            self.conn.request("GET", self.path + path, headers=self.headers)
            response = self.conn.getresponse()
            payload = json.loads(response.read())
            if response.status == 200:
                return payload
            if payload.get("error") != "timeout":
                break
        raise AssertionError(f"GET {path} answered {response.status}: {payload}")

    def put(self, path, body):
        self.conn.request("PUT", self.path + path, body=json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        payload = json.loads(response.read())
        if response.status != 201:
            raise AssertionError(f"PUT {path} answered {response.status}: {payload}")
        return payload

    def close(self):
        self.conn.close()


def document(n):
    rng = random.Random(n)
    return {"_id": f"doc{n:07d}", "n": n, "group": n % GROUPS, "name": f"user{rng.randrange(NAMES)}",
            "nested": {"v": rng.random()}, "text": "x" * rng.randrange(50, 200)}


def load(client, docs):
    for start in range(0, docs, BATCH):
        batch = [document(n) for n in range(start, min(docs, start + BATCH))]
        assert len(client.post("/_bulk_docs", {"docs": batch})) == len(batch)


def timed(client, body):
    started = time.perf_counter()
    answer = client.post("/_find", body)
    return (time.perf_counter() - started) * 1000, [doc["_id"] for doc in answer["docs"]]


# -- Mango -------------------------------------------------------------------------------------------------


def mango_queries(docs, count, seed=16):
    """The same random queries for every server: ``{metric: [body, ...]}``."""
    rng = random.Random(seed)
    return {
        "indexed =": [{"selector": {"n": rng.randrange(docs)}} for _ in range(count)],
        "indexed range": [{"selector": {"group": rng.randrange(GROUPS), "n": {"$gt": rng.randrange(docs)}},
                           "limit": 25} for _ in range(count)],
        "indexed sort": [{"selector": {"n": {"$gte": rng.randrange(docs)}}, "sort": ["n"], "limit": 25}
                         for _ in range(count)],
    }


def mango_metrics(client, args):
    """``{metric: value}`` and ``{metric: [ids of each answer]}`` for the Mango section."""
    values, answers = {}, {}
    scan = {"selector": {"name": "nobody"}}
    scan_times = [timed(client, scan) for _ in range(args.scans)]
    values["no index (ms)"] = statistics.median(ms for ms, _ in scan_times)
    answers["no index (ms)"] = [ids for _, ids in scan_times]
    started = time.perf_counter()
    for index in INDEXES:
        client.post("/_index", index)
    client.post("/_find", {"selector": {"group": 0, "n": {"$gt": 0}}, "limit": 1})
    client.post("/_find", {"selector": {"n": 0}})
    values["index build (s)"] = time.perf_counter() - started
    for metric, bodies in mango_queries(args.docs, args.queries).items():
        results = [timed(client, body) for body in bodies]
        values[f"{metric} (ms)"] = statistics.median(ms for ms, _ in results)
        answers[f"{metric} (ms)"] = [ids for _, ids in results]
    return values, answers


# -- views ------------------------------------------------------------------------------------------------

VIEW_DDOC = {"views": {
    "by_n": {"map": "function(doc) { if (doc.n !== undefined) emit(doc.n, null); }"},
    "by_group": {"map": "function(doc) { if (doc.group !== undefined) emit(doc.group, doc.n); }",
                 "reduce": "_count"},
}}


def view_metrics(client, args):
    """``{metric: value}`` and ``{metric: [rows of each answer]}`` for the views section."""
    values, answers = {}, {}
    client.put("/_design/bench-views", VIEW_DDOC)
    started = time.perf_counter()
    first = client.get("/_design/bench-views/_view/by_n?limit=1", retry_timeouts=60)
    values["view build (docs/s)"] = args.docs / (time.perf_counter() - started)
    answers["view build (docs/s)"] = [first["total_rows"]]
    rng = random.Random(17)
    keyed = [f"/_design/bench-views/_view/by_n?key={rng.randrange(args.docs)}" for _ in range(args.queries)]
    group = rng.randrange(GROUPS)
    grouped = [f"/_design/bench-views/_view/by_group?group=true&startkey={g}&endkey={g}"
               for g in (rng.randrange(GROUPS) for _ in range(args.queries))]
    client.get(f"/_design/bench-views/_view/by_group?group=true&key={group}")
    for metric, paths in (("view key (req/s)", keyed), ("view group (req/s)", grouped)):
        started = time.perf_counter()
        answers[metric] = [client.get(path)["rows"] for path in paths]
        values[metric] = len(paths) / (time.perf_counter() - started)
    return values, answers


SECTIONS = {"MANGO": mango_metrics, "VIEWS": view_metrics}


# -- servers -----------------------------------------------------------------------------------------------


OURS = ("file", "mem", "tab")


def start(name, workdir):
    workdir = Path(workdir)
    if name == "mem":
        return helpers.start_browsercouch()
    if name == "file":
        return helpers.start_browsercouch("--data", str(workdir / "browsercouch"))
    if name == "tab":
        return helpers.start_browser_server(workdir / "profile")
    if name == "pouchdb-server":
        return helpers.start_pouchdb_server(workdir / "pouchdb-server", in_memory=False)
    shards = int(name.rsplit("q", 1)[1])
    return helpers.start_couchdb(workdir / name, q=shards)


def missing_reason(name):
    """Why server ``name`` cannot run here, or ``None``."""
    if name.startswith("couchdb"):
        return helpers.couchdb_missing_reason()
    if name == "pouchdb-server":
        return helpers.node_missing_reason()
    if name == "tab":
        from browsercouch import launcher

        return launcher.missing_reason()
    return None


def run_server(name, args, workdir):
    """``(values, answers, notes)``: a section that fails leaves its metrics out and says why in ``notes``."""
    server = start(name, workdir)
    try:
        db_url = peers.new_db(server, "queries")
        client = Client(peers.admin_url(server, db_url))  # indexes are design documents: admins only
        started = time.perf_counter()
        load(client, args.docs)
        values = {"load (docs/s)": args.docs / (time.perf_counter() - started)}
        answers, notes = {}, {}
        for section in args.sections:
            try:
                found, seen = SECTIONS[section](client, args)
            except (AssertionError, OSError, http.client.HTTPException, ValueError) as err:
                notes[section] = f"{type(err).__name__}: {str(err)[:300]}"
                client.close()
                client = Client(peers.admin_url(server, db_url))
                continue
            values.update(found)
            answers.update(seen)
        client.close()
        return values, answers, notes
    finally:
        server.stop()


def ratio(metric, ours, theirs):
    """Above 1 when browsercouch is better: rates ours/theirs, times theirs/ours."""
    return ours / theirs if "/s" in metric else theirs / ours


def report(columns):
    names = list(columns)
    ours = [name for name in names if name in OURS]
    theirs = [name for name in names if name not in OURS]
    metrics = list(dict.fromkeys(metric for values in columns.values() for metric in values))
    header = ["metric", *names, *(f"{a} vs {b}" for a in ours for b in theirs)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for metric in metrics:
        cells = [_cell(columns[name].get(metric)) for name in names]
        for a in ours:
            for b in theirs:
                mine, other = columns[a].get(metric), columns[b].get(metric)
                cells.append("—" if mine is None or other is None else f"{ratio(metric, mine, other):.2f}x")
        lines.append("| " + " | ".join([metric, *cells]) + " |")
    return "\n".join(lines)


def _cell(value):
    return "—" if value is None else f"{value:,.2f}"


def differences(answers, servers):
    """``{server: [metric, ...]}`` where a server's answers differ from the reference's: the first CouchDB
    column that has them, else the first server that does."""
    ranked = sorted(servers, key=lambda name: not name.startswith("couchdb"))
    wrong = {}
    for metric in dict.fromkeys(metric for seen in answers.values() for metric in seen):
        having = [name for name in ranked if metric in answers.get(name, {})]
        for name in having[1:]:
            if answers[name][metric] != answers[having[0]][metric]:
                wrong.setdefault(name, []).append(metric)
    return wrong


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scans", type=int, default=5)
    parser.add_argument("--servers", default="file,tab,couchdb-q1,couchdb-q2,pouchdb-server")
    parser.add_argument("--sections", default="MANGO,VIEWS")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.sections = args.sections.split(",")
    servers = []
    for name in args.servers.split(","):
        reason = missing_reason(name)
        if reason:
            print(f"{name} left out: {reason}")
        else:
            servers.append(name)
    load_average = [os.getloadavg()[0]]
    columns, answers, notes = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-queries-") as workdir:
        for name in servers:
            print(f"{name}: {args.docs} documents ...", flush=True)
            try:
                columns[name], answers[name], found = run_server(name, args, workdir)
            except (RuntimeError, AssertionError, OSError, http.client.HTTPException) as err:
                notes[name] = f"did not run: {type(err).__name__}: {str(err)[:300]}"
                continue
            notes.update({f"{name} {section}": why for section, why in found.items()})
            load_average.append(os.getloadavg()[0])
    if not columns:
        print("no server ran")
        return 1
    print(report(columns))
    for what, why in notes.items():
        print(f"left out: {what}: {why}")
    wrong = differences(answers, list(columns))
    for name, metrics in wrong.items():
        print(f"{'WRONG ANSWERS' if name in OURS else 'different answers'} from {name} (they differ from "
              f"the reference's, CouchDB's where it ran): {', '.join(metrics)}")
    averages = ", ".join(f"{x:.2f}" for x in load_average)
    print(f"load average (1 min) at the start and after each server: {averages}")
    out = args.out or RESULTS / f"queries-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args) | {"out": str(out)}, "columns": columns, "notes": notes,
                               "load_average": load_average}, indent=2))
    print(f"results: {out}")
    return 1 if set(wrong) & set(OURS) else 0


if __name__ == "__main__":
    sys.exit(main())
