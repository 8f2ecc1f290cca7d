"""Benchmark browsercouch's replicator against PouchDB's and Apache CouchDB's, side by side, on 127.0.0.1.

    .venv/bin/python bench/bench_replicate.py [--docs 10000] [--runs 3] [--attachment-every 10]
                                              [--routes 0,1,2,3] [--out FILE]
                                              [--peers pouchdb-server,couchdb-q1,couchdb-q2]

``browsercouch serve --data TMPDIR`` runs throughout; the peers run one after another beside it:
pouchdb-server 4.2.0 (leveldb), and Apache CouchDB 3.4.3 from ``../shared/couchdb`` with one shard per
database (``couchdb-q1``) and with its default two (``couchdb-q2``); the CouchDB peers are left out, saying
why, where it is absent. Every source holds the same ``--docs`` documents of about 300 bytes, every
``--attachment-every``-th with a 512-byte binary attachment (untimed). Each run copies them, for each route
(``--routes``, by index) and each replicator that can take it, into a fresh database:

  0  PEER -> browsercouch    http -> http
  1  browsercouch -> PEER    http -> http
  2  PEER -> local           into the replicator's own storage (ours: SQLite; PouchDB: leveldb)
  3  local -> PEER           from the replicator's own storage (filled from PEER once, untimed)
  4  PEER -> PEER            between two databases of the peer: how fast each replicator is with no
                             browsercouch in the route (not run by default)

The replicators:

  browsercouch      ``browsercouch.replicator`` in this process (``http.tcp_client``, default options)
  bc /_replicate    the browsercouch server's own ``POST /_replicate`` (routes 0 and 1), its end of the
                    route a local database: the replicator inside one of the two servers
  PouchDB           ``tests/node/replicator_bench.mjs`` (pouchdb-node 9, default options)
  CouchDB           the CouchDB peer's own ``POST /_replicate`` (routes 0 and 1), its end of the route the
                    peer itself: CouchDB's counterpart of ``bc /_replicate``

No replicator authenticates: browsercouch is an admin party on loopback and CouchDB's databases are opened
to anonymous clients (``peers.py``). The table (Markdown) shows the median docs/s of ``--runs`` runs, and
the ratios browsercouch / PouchDB and bc /_replicate / CouchDB (above 1: browsercouch is faster). A
replication that fails or writes the wrong number of docs is reported in its cell (with the peer's log
lines for a CouchDB failure) and makes the exit code non-zero. Results are also written as JSON (``--out``,
default ``bench/results/replicate-<time>.json``).
"""

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import helpers  # noqa: E402 - the shared server starters live with the tests
import peers  # noqa: E402

from browsercouch.http import tcp_client  # noqa: E402
from browsercouch.replicator import LocalEndpoint, RemoteEndpoint, ReplicationOptions, replicate  # noqa: E402
from browsercouch.store import Couch  # noqa: E402

NODE_BENCH = helpers.NODE_DIR / "replicator_bench.mjs"
SEED_BATCH = 500
NODE_TIMEOUT = 900
# Routes by index (the CLI's --routes); PEER is the peer's column name.
ROUTES = ("PEER -> browsercouch", "browsercouch -> PEER", "PEER -> local", "local -> PEER", "PEER -> PEER")
DEFAULT_ROUTES = "0,1,2,3"
PEERS = ("pouchdb-server", "couchdb-q1", "couchdb-q2")
REPLICATORS = ("browsercouch", "bc /_replicate", "PouchDB", "CouchDB")
# (ratio label, numerator, denominator)
RATIOS = (("browsercouch / PouchDB", "browsercouch", "PouchDB"),
          ("bc /_replicate / CouchDB", "bc /_replicate", "CouchDB"))
# Lines of a CouchDB log that say why a replication failed: the replicator's errors, and requests that
# got a 4xx or 5xx (its replicator's own included).
COUCHDB_LOG_ERRORS = re.compile(r"\[error\].*[Rr]eplicat| (?:GET|PUT|POST|HEAD|DELETE) \S+ [45]\d\d ")
COUCHDB_LOG_LINES = 40


def make_docs(count, attachment_every):
    """``count`` ~300-byte documents; every ``attachment_every``-th has a 512-byte attachment."""
    rng = random.Random(5984)
    docs = []
    for i in range(count):
        doc = {"_id": f"bench-{i:06}", "type": "bench", "n": i, "payload": rng.randbytes(96).hex()}
        if attachment_every and i % attachment_every == 0:
            data = base64.b64encode(rng.randbytes(512)).decode()
            doc["_attachments"] = {"small.bin": {"content_type": "application/octet-stream", "data": data}}
        docs.append(doc)
    return docs


def fill(db_url, docs):
    """Write ``docs`` into the existing database at ``db_url`` (untimed)."""
    for start in range(0, len(docs), SEED_BATCH):
        batch = {"docs": docs[start:start + SEED_BATCH]}
        status, _, body = helpers.http("POST", db_url + "/_bulk_docs", batch, timeout=300)
        assert status == 201 and not [row for row in body if "error" in row], body


async def _ours(source, target, couch):
    client = tcp_client()
    try:
        src = LocalEndpoint(couch, source) if "://" not in source else RemoteEndpoint(source, client)
        tgt = LocalEndpoint(couch, target) if "://" not in target else RemoteEndpoint(target, client)
        started = time.perf_counter()
        result = await replicate(src, tgt, ReplicationOptions(create_target=True))
        seconds = time.perf_counter() - started
    finally:
        await client.close()
    return result["history"][0]["docs_written"], seconds


def ours(source, target, couch):
    return asyncio.run(_ours(source, target, couch))


def pouchdb(source, target):
    cmd = ["node", str(NODE_BENCH), source, target]
    proc = subprocess.run(cmd, cwd=helpers.NODE_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"PouchDB failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    return out["docs_written"], out["seconds"]


def server_replicate(server_url, source, target):
    """``POST /_replicate`` on the browsercouch server (source or target may be its local names)."""
    body = {"source": source, "target": target, "create_target": True}
    started = time.perf_counter()
    status, _, answer = helpers.http("POST", server_url + "_replicate", body, timeout=peers.REPLICATE_TIMEOUT)
    seconds = time.perf_counter() - started
    if status != 200 or not isinstance(answer, dict) or not answer.get("ok"):
        raise RuntimeError(f"browsercouch's POST /_replicate answered {status}: {str(answer)[:3000]}")
    return answer["history"][0]["docs_written"], seconds


class Setup:
    """What a route runs between: the browsercouch server and its filled ``source``, the peer and its
    filled ``source`` (a URL anonymous clients may use), the local store, the work directory."""

    def __init__(self, bc, bc_source, peer, peer_source, couch, workdir):
        self.bc, self.bc_source, self.peer, self.peer_source = bc, bc_source, peer, peer_source
        self.couch, self.workdir = couch, workdir
        self._local_sources = None

    def local_sources(self):
        """``(ours, PouchDB's)``: the local databases route 3 reads from (SQLite, leveldb), filled from the
        peer once, untimed; a run replicates them into a fresh database, so they can serve every run."""
        if self._local_sources is None:
            tag = secrets.token_hex(4)
            ours(self.peer_source, f"seed-{tag}", self.couch)
            pouchdb(self.peer_source, f"leveldb:{self.workdir}/seed-{tag}")
            self._local_sources = (f"seed-{tag}", f"leveldb:{self.workdir}/seed-{tag}")
        return self._local_sources

    def fresh_bc(self, label):
        return peers.new_db(self.bc, label)

    def fresh_peer(self, label):
        return peers.new_db(self.peer, label)


def route_replications(index, setup):
    """``{replicator: () -> (docs_written, seconds)}`` for one run of route ``index``; each into a fresh
    database."""
    s = setup
    tag = secrets.token_hex(4)
    local_source = s.bc_source.rsplit("/", 1)[1]
    if index == 0:
        runs = {"browsercouch": lambda: ours(s.peer_source, s.fresh_bc("ours"), s.couch),
                "bc /_replicate": lambda: server_replicate(s.bc.url, s.peer_source, f"server-{tag}"),
                "PouchDB": lambda: pouchdb(s.peer_source, s.fresh_bc("pouch")),
                "CouchDB": lambda: peers.couchdb_replicate(s.peer, s.peer_source, s.fresh_bc("couchdb"))}
    elif index == 1:
        runs = {"browsercouch": lambda: ours(s.bc_source, s.fresh_peer("ours"), s.couch),
                "bc /_replicate": lambda: server_replicate(s.bc.url, local_source, s.fresh_peer("server")),
                "PouchDB": lambda: pouchdb(s.bc_source, s.fresh_peer("pouch")),
                "CouchDB": lambda: peers.couchdb_replicate(s.peer, s.bc_source, s.fresh_peer("couchdb"))}
    elif index == 2:
        runs = {"browsercouch": lambda: ours(s.peer_source, f"pull-{tag}", s.couch),
                "PouchDB": lambda: pouchdb(s.peer_source, f"leveldb:{s.workdir}/pull-{tag}")}
    elif index == 3:
        ours_source, pouchdb_source = s.local_sources()
        runs = {"browsercouch": lambda: ours(ours_source, s.fresh_peer("ours"), s.couch),
                "PouchDB": lambda: pouchdb(pouchdb_source, s.fresh_peer("pouch"))}
    else:
        runs = {"browsercouch": lambda: ours(s.peer_source, s.fresh_peer("ours"), s.couch),
                "PouchDB": lambda: pouchdb(s.peer_source, s.fresh_peer("pouch")),
                "CouchDB": lambda: peers.couchdb_replicate(s.peer, s.peer_source, s.fresh_peer("couchdb"))}
    if not peers.is_couchdb(s.peer):
        runs.pop("CouchDB", None)
    return runs


def measure_route(index, setup, args):
    """``{replicator: median docs/s or the error}`` over ``args.runs`` runs of route ``index``."""
    rates, errors = {}, {}
    for _ in range(args.runs):
        for name, run in route_replications(index, setup).items():
            if name in errors:
                continue
            try:
                written, seconds = run()
                if written != args.docs:
                    raise RuntimeError(f"wrote {written} docs, expected {args.docs}")
                rates.setdefault(name, []).append(args.docs / seconds)
            except (RuntimeError, OSError, ValueError, KeyError, AssertionError,
                    subprocess.TimeoutExpired) as exc:
                errors[name] = exc
                print(f"    {name}: FAILED {str(exc)[:3000]}", flush=True)
                if name == "CouchDB":
                    print(couchdb_log_errors(setup.peer), flush=True)
    return {name: errors.get(name) or statistics.median(rates[name])
            for name in REPLICATORS if name in errors or name in rates}


def couchdb_log_errors(couch):
    """The lines of CouchDB's log that say what went wrong, for a failure message."""
    lines = [line for line in couch.log(2_000_000).splitlines() if COUCHDB_LOG_ERRORS.search(line)]
    return "    --- couchdb.log: replication errors, requests answered 4xx/5xx ---\n" + "\n".join(
        "    " + line[:600] for line in lines[-COUCHDB_LOG_LINES:])


def start_peer(key, workdir):
    if key == "pouchdb-server":
        return "pouchdb-server", helpers.start_pouchdb_server(workdir / "pouchdb-server", in_memory=False)
    name, q = peers.COUCHDB_COLUMNS[PEERS.index(key) - 1]
    return name, peers.start_couchdb(workdir, q)


def run_peer(key, bc, bc_source, couch, docs, args, workdir):
    """``{route label: {replicator: docs/s or error}}`` for one peer, started and stopped here."""
    name, peer = start_peer(key, workdir)
    results = {}
    try:
        peer_source = peers.new_db(peer, "source")
        fill(peer_source, docs)
        setup = Setup(bc, bc_source, peer, peer_source, couch, workdir)
        for index in args.routes:
            label = ROUTES[index].replace("PEER", name)
            print(f"{label}:", flush=True)
            results[label] = measure_route(index, setup, args)
            print("    " + ", ".join(f"{replicator} {format_cell(value)}"
                                     for replicator, value in results[label].items()), flush=True)
    finally:
        peer.stop()
    return results


def format_cell(value):
    if value is None:
        return "-"
    return "failed" if isinstance(value, Exception) else f"{value:,.0f} docs/s"


def print_table(results, args):
    columns = [r for r in REPLICATORS if any(r in row for row in results.values())]
    header = ["route", *columns, *(label for label, *_ in RATIOS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for route, row in results.items():
        ratios = []
        for _, top, bottom in RATIOS:
            a, b = row.get(top), row.get(bottom)
            numbers = isinstance(a, float) and isinstance(b, float)
            ratios.append(f"{a / b:.2f}x" if numbers else "-")
        lines.append("| " + " | ".join([route, *(format_cell(row.get(c)) for c in columns), *ratios]) + " |")
    print(f"\n{time.strftime('%Y-%m-%d')}: {args.docs:,} docs, every {args.attachment_every}th with a "
          f"512-byte attachment; median of {args.runs} runs\n")
    print("\n".join(lines))


def write_json(results, args):
    out = Path(args.out) if args.out else (
        Path(__file__).resolve().parent / "results" / time.strftime("replicate-%Y%m%d-%H%M%S.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"args": vars(args), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
               "results": {route: {name: (str(value) if isinstance(value, Exception) else value)
                                   for name, value in row.items()} for route, row in results.items()}}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results written to {out}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--attachment-every", type=int, default=10)
    parser.add_argument("--routes", default=DEFAULT_ROUTES,
                        type=lambda text: [int(i) for i in text.split(",")],
                        help=f"which routes to run, by index (default {DEFAULT_ROUTES}; 4 is PEER -> PEER)")
    parser.add_argument("--peers", default=",".join(PEERS), type=lambda text: text.split(","),
                        help=f"which peers, in order (default all: {','.join(PEERS)})")
    parser.add_argument("--out", help="JSON results file (default bench/results/replicate-<time>.json)")
    args = parser.parse_args(argv)
    if set(args.peers) - set(PEERS) or not set(args.routes) <= set(range(len(ROUTES))):
        parser.error(f"--peers from {','.join(PEERS)}, --routes from 0-{len(ROUTES) - 1}")
    if args.docs < 1 or not 1 <= args.runs <= 10:
        parser.error("--docs must be positive, --runs between 1 and 10")
    return args


def main(argv=None):
    args = parse_args(argv)
    reason = helpers.node_missing_reason()
    if reason:
        raise SystemExit(f"bench_replicate: {reason}")
    couchdb_missing = helpers.couchdb_missing_reason()
    if couchdb_missing and any(key.startswith("couchdb") for key in args.peers):
        print(f"no CouchDB peers: {couchdb_missing}", flush=True)
        args.peers = [key for key in args.peers if not key.startswith("couchdb")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-replicate-") as workdir:
        workdir = Path(workdir)
        bc = helpers.start_browsercouch("--data", os.path.join(workdir, "browsercouch"))
        couch = Couch(os.path.join(workdir, "local"))
        try:
            docs = make_docs(args.docs, args.attachment_every)
            bc_source = peers.new_db(bc, "source")
            fill(bc_source, docs)
            print(f"{args.docs} docs, every {args.attachment_every}th with a 512-byte attachment; "
                  f"median of {args.runs} runs", flush=True)
            for key in args.peers:
                results.update(run_peer(key, bc, bc_source, couch, docs, args, workdir))
        finally:
            couch.close()
            bc.stop()
    print_table(results, args)
    write_json(results, args)
    failed = any(isinstance(value, Exception) for row in results.values() for value in row.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
