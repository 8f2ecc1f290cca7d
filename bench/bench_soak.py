"""The write soak through the extension, long: issue 12's tab stopped answering writes after ~10 minutes of
heavy create/write/delete traffic.

    .venv/bin/python bench/bench_soak.py [--minutes 15] [--clients 4] [--slow-flush-ms 5] [--out FILE]

``browsercouch browser --headless`` on a fresh profile; ``tests/soak.py`` runs against it for
``--minutes`` (databases made and dropped, documents written, updated and deleted, while the tab pulls
continuously from a native ``browsercouch serve`` that is written all the time), the browser's flushes
made ``--slow-flush-ms`` slower as a laptop disk's (0: the disk as it is). Printed: the write
latencies minute by minute (p50, p99, max: a drift shows as a rising column), then the totals. Every
write must be answered within 2 s with the right status, and the replication's target must catch up at
the end; otherwise the exit code is non-zero. Results go to
JSON (``--out``, default ``bench/results/soak-<time>.json``).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
import helpers  # noqa: E402 - the shared server starters live with the tests
from soak import SLOW_FLUSH_MS, WRITE_METHODS, run_soak, slow_flush_preload  # noqa: E402

from browsercouch import launcher  # noqa: E402

MINUTE = 60.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="how long the soak runs (default 15)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--slow-flush-ms", type=int, default=SLOW_FLUSH_MS,
                        help=f"how much longer the browser's flushes take, in ms (default {SLOW_FLUSH_MS}; "
                        "0: none)")
    parser.add_argument("--out", help="the JSON results file")
    return parser.parse_args(argv)


def by_minute(result):
    """One row per minute of the run: (minute, writes, p50, p99, max in ms)."""
    rows = []
    for minute in range(int(result.seconds // MINUTE) + 1):
        start, end = minute * MINUTE, (minute + 1) * MINUTE
        writes = sum(1 for when, _, method in result.latencies
                     if method in WRITE_METHODS and start <= when < end)
        if writes:
            rows.append((minute + 1, writes, *(round(result.percentile_ms(f, start=start, end=end))
                                              for f in (0.5, 0.99, 1.0))))
    return rows


def main(argv):
    args = parse_args(argv)
    reason = launcher.missing_reason()
    if reason:
        print(f"bench_soak: cannot run: {reason}", file=sys.stderr)
        return 1
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="browsercouch-bench-soak-") as tmp:
        preload = slow_flush_preload(Path(tmp), args.slow_flush_ms) if args.slow_flush_ms else None
        if preload:
            os.environ["LD_PRELOAD"] = preload
        try:
            server = helpers.start_browser_server(Path(tmp) / "profile")
        finally:
            os.environ.pop("LD_PRELOAD", None)
        peer = helpers.start_browsercouch()
        try:
            flushes = f"flushes {args.slow_flush_ms} ms slower" if preload else "the disk as it is"
            print(f"soak: {args.clients} clients, {args.minutes:g} minutes, {flushes}", flush=True)
            result = run_soak(server.url, peer.url, args.minutes * MINUTE, clients=args.clients)
        finally:
            peer.stop()
            server.stop()
    load.append(os.getloadavg()[0])
    rows = by_minute(result)
    print("\nminute   writes   p50 ms   p99 ms   max ms")
    for row in rows:
        print("{:>6} {:>8} {:>8} {:>8} {:>8}".format(*row))
    print(f"\n{result.summary()}")
    print(f"load average {load[0]:.2f} at the start, {load[1]:.2f} at the end ({os.cpu_count()} CPUs)")
    for kind in ("slow", "wrong"):
        for entry in getattr(result, kind)[:20]:
            print(f"  {kind}: {entry}")
    out = Path(args.out) if args.out else BENCH / "results" / time.strftime("soak-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "args": vars(args), "seconds": result.seconds, "cycles": result.cycles, "writes": result.writes,
        "p99_ms": result.p99_ms, "max_ms": result.max_ms, "mirrored": result.mirrored,
        "by_minute": rows, "slow": result.slow, "wrong": result.wrong, "load_average": load,
    }, indent=1))
    print(f"results in {out}")
    return 0 if not (result.slow or result.wrong) and result.mirrored else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
