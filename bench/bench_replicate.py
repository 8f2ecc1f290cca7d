"""Benchmark browsercouch's replicator against PouchDB's, side by side, all on 127.0.0.1.

    .venv/bin/python bench/bench_replicate.py [--docs 10000] [--runs 3] [--attachment-every 10]

Two servers run as subprocesses: pouchdb-server 4.2.0 (leveldb) and ``browsercouch serve --data TMPDIR``.
Both get the same ``--docs`` documents of about 300 bytes, every ``--attachment-every``-th with a 512-byte
attachment (untimed). Then each replicator copies them, into a fresh database each run:

  pouchdb-server -> browsercouch    http -> http, the replicator a third party
  browsercouch -> pouchdb-server    http -> http
  pouchdb-server -> local           into the replicator's own storage (ours: SQLite; PouchDB: leveldb)
  local -> pouchdb-server           from the replicator's own storage (filled untimed first)

"browsercouch" is ``browsercouch.replicator`` in this process (``tcp_client``, default options);
"PouchDB" is ``tests/node/replicator_bench.mjs`` (pouchdb-node 9, default options). The table shows the
median docs/s of ``--runs`` runs and the ratio browsercouch / PouchDB (above 1: browsercouch is faster).
"""

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import helpers  # noqa: E402 - the shared server starters live with the tests

from browsercouch.replicator import (  # noqa: E402
    LocalEndpoint,
    RemoteEndpoint,
    ReplicationOptions,
    replicate,
    tcp_client,
)
from browsercouch.store import Couch  # noqa: E402

NODE_BENCH = helpers.NODE_DIR / "replicator_bench.mjs"
SEED_BATCH = 500
NODE_TIMEOUT = 900
ROUTES = ("pouchdb-server -> browsercouch", "browsercouch -> pouchdb-server", "pouchdb-server -> local",
          "local -> pouchdb-server")


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
    status, _, body = helpers.http("PUT", db_url)
    assert status in (201, 412), body
    for start in range(0, len(docs), SEED_BATCH):
        batch = {"docs": docs[start:start + SEED_BATCH]}
        status, _, body = helpers.http("POST", db_url + "/_bulk_docs", batch, timeout=300)
        assert status == 201 and not [row for row in body if "error" in row], body


def fresh(base_url, label):
    return f"{base_url}{label}-{secrets.token_hex(4)}"


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


def pouchdb(source, target, seed_from=None):
    cmd = ["node", str(NODE_BENCH), source, target] + (["--seed-from", seed_from] if seed_from else [])
    proc = subprocess.run(cmd, cwd=helpers.NODE_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"PouchDB failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    return out["docs_written"], out["seconds"]


def run_route(route, servers, workdir, couch):
    """``(ours, pouchdb)`` as ``(docs_written, seconds)`` for one run of ``route``."""
    pouch_src, bc_src, pouch_base, bc_base = servers
    tag = secrets.token_hex(4)
    if route == ROUTES[0]:
        return ours(pouch_src, fresh(bc_base, "ours"), couch), pouchdb(pouch_src, fresh(bc_base, "pouch"))
    if route == ROUTES[1]:
        return ours(bc_src, fresh(pouch_base, "ours"), couch), pouchdb(bc_src, fresh(pouch_base, "pouch"))
    if route == ROUTES[2]:
        return (ours(pouch_src, f"pull-{tag}", couch),
                pouchdb(pouch_src, f"leveldb:{workdir}/pull-{tag}"))
    ours(pouch_src, f"seed-{tag}", couch)  # untimed: fill our local database first
    return (ours(f"seed-{tag}", fresh(pouch_base, "ours"), couch),
            pouchdb(f"leveldb:{workdir}/seed-{tag}", fresh(pouch_base, "pouch"), seed_from=pouch_src))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--attachment-every", type=int, default=10)
    parser.add_argument("--routes", default=",".join(str(i) for i in range(len(ROUTES))),
                        help="which routes to run, by index (default all)")
    args = parser.parse_args(argv)
    reason = helpers.node_missing_reason()
    if reason:
        raise SystemExit(f"bench_replicate: {reason}")
    with tempfile.TemporaryDirectory(prefix="bench-replicate-") as workdir:
        pouch = helpers.start_pouchdb_server(Path(workdir) / "pouchdb-server", in_memory=False)
        bc = helpers.start_browsercouch("--data", os.path.join(workdir, "browsercouch"))
        couch = Couch(os.path.join(workdir, "local"))
        try:
            docs = make_docs(args.docs, args.attachment_every)
            servers = (pouch.url + "source", bc.url + "source", pouch.url, bc.url)
            fill(servers[0], docs)
            fill(servers[1], docs)
            print(f"{args.docs} docs, every {args.attachment_every}th with a 512-byte attachment; "
                  f"median of {args.runs} runs", flush=True)
            print(f"{'route':34} {'browsercouch':>14} {'PouchDB':>14} {'ratio':>7}", flush=True)
            for index in map(int, args.routes.split(",")):
                report(ROUTES[index], [run_route(ROUTES[index], servers, workdir, couch)
                                       for _ in range(args.runs)], args.docs)
        finally:
            couch.close()
            bc.stop()
            pouch.stop()


def report(route, runs, docs):
    rates = []
    for side in (0, 1):
        written = {run[side][0] for run in runs}
        if written != {docs}:
            raise SystemExit(f"bench_replicate: {route}: wrote {written} docs, expected {docs}")
        rates.append(statistics.median(docs / run[side][1] for run in runs))
    print(f"{route:34} {rates[0]:>9,.0f} d/s {rates[1]:>9,.0f} d/s {rates[0] / rates[1]:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
