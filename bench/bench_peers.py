"""Benchmark browser-to-browser replication (issue 14): pull ``--docs`` documents from one peer into another.

    .venv/bin/python bench/bench_peers.py [--docs 10000] [--repeat 3] [--out FILE]

Columns, each a pull of the same ~300-byte documents into a fresh database, median of ``--repeat`` runs:

  native -> native  two ``browsercouch serve --data TMP`` on 127.0.0.1; the puller's ``POST /_replicate``
                    (the reference)
  TCP shell tab -> tab  two ``browsercouch browser --headless`` (the extension and its socket bridge) on
                    127.0.0.1; B's ``POST /_replicate`` pulls from A's URL: each request leaves B's shared
                    worker by fetch(), reaches A's bridge over TCP, crosses its WebSocket channel into A's
                    worker and back
  WebRTC tab -> tab two headless Chromium processes on the plain web app (``browsercouch web``), paired
                    with the app's copy-paste codes; B's ``POST /_replicate`` pulls from
                    ``http://<A's uuid>.webrtc/db``: every request is HTTP/1.1 over an RTCDataChannel, from
                    B's worker through its page, the data channel, A's page and A's worker and back

Goals: the TCP shell >= 0.5x the native pair; WebRTC >= 1,000 docs/s and >= 0.3x the TCP shell. A goal
missed is reported, not failed; a wrong document count makes the exit code non-zero. Results go to
JSON (``--out``, default ``bench/results/peers-<time>.json``).
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
import chromium  # noqa: E402 - the tests' Chromium launcher
import helpers  # noqa: E402 - the shared server starters live with the tests
from bench_server import bulk_insert, make_docs  # noqa: E402

from browsercouch import bundled  # noqa: E402

# DESIGN.md section 5: loopback ICE candidates need these flags and media permission.
WEBRTC_FLAGS = ("--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns")
PERMISSIONS = ["audioCapture", "videoCapture"]
READY_TIMEOUT = 90
FILL_BATCH = 1000
GOAL_DOCS_PER_SECOND = 1000
GOAL_RATIO_TO_TCP_SHELL = 0.3
GOAL_TCP_SHELL_TO_NATIVE = 0.5

PAGE_REQUEST = """
const [method, path, body, done] = arguments;
window.browsercouch.couch.request(method, path, {
  headers: {"content-type": "application/json", "accept": "application/json"},
  body: body === null ? undefined : body,
}).then((r) => done([r.status, r.text()]), (e) => done([0, String(e)]));
"""


class BenchError(RuntimeError):
    pass


class Tab:
    """One headless Chromium with the web app open on its own profile."""

    def __init__(self, web_url, profile):
        self.browser = chromium.launch(profile, *WEBRTC_FLAGS)
        self.browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": web_url.rstrip("/"),
                                                                  "permissions": PERMISSIONS})
        self.browser.get(web_url + "index.html")
        deadline = time.monotonic() + READY_TIMEOUT
        while self.browser.execute_script("return document.body && document.body.dataset.ready") != "1":
            if time.monotonic() > deadline:
                raise BenchError("the web app did not get ready")
            time.sleep(0.05)
        # Offer the peer loopback candidates only: no connectivity check leaves 127.0.0.1.
        self.uuid = self.browser.execute_script(
            "window.browsercouch.peers.candidateFilter = (address) => address.startsWith('127.');"
            "return window.browsercouch.couch.info.uuid")

    def request(self, method, path, body=None):
        text = None if body is None else json.dumps(body)
        status, payload = self.browser.execute_async_script(PAGE_REQUEST, method, path, text)
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload

    def call(self, script, *args):
        """``[ok, value or error]`` of the promise the JavaScript expression ``script`` gives."""
        return self.browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"Promise.resolve().then(() => {script})"
            ".then((r) => done([true, r]), (e) => done([false, String(e)]));", *args)

    def quit(self):
        self.browser.quit()


def pair(a, b):
    """Pair ``a`` and ``b`` with the app's copy-paste codes; wait until both links are up."""
    peers = "window.browsercouch.peers"
    ok, invite = a.call(f"{peers}.createInvitation().then((r) => {{ window.invite = r; return r.code; }})")
    if not ok:
        raise BenchError(f"invitation: {invite}")
    ok, answer = b.call(f"{peers}.acceptInvitation(arguments[0]).then((r) => r.code)", invite)
    if not ok:
        raise BenchError(f"answer: {answer}")
    ok, error = a.call(f"{peers}.completeInvitation(window.invite.link, arguments[0]).then(() => 1)", answer)
    if not ok:
        raise BenchError(f"connect: {error}")
    deadline = time.monotonic() + 30
    for tab, other in ((a, b), (b, a)):
        while not tab.browser.execute_script(f"return {peers}.connected(arguments[0])", other.uuid):
            if time.monotonic() > deadline:
                raise BenchError("the pages did not connect")
            time.sleep(0.05)


def fill_tab(tab, db, docs):
    status, answer = tab.request("PUT", f"/{db}")
    if status != 201:
        raise BenchError(f"PUT /{db} answered {status}: {answer}")
    for i in range(0, len(docs), FILL_BATCH):
        status, answer = tab.request("POST", f"/{db}/_bulk_docs", {"docs": docs[i:i + FILL_BATCH]})
        if status != 201:
            raise BenchError(f"_bulk_docs answered {status}: {str(answer)[:300]}")


def pull_seconds(request, source, target, expected):
    """Seconds for ``request("POST", "/_replicate", ...)`` to pull ``source`` into the new ``target``."""
    started = time.perf_counter()
    body = {"source": source, "target": target, "create_target": True}
    status, answer = request("POST", "/_replicate", body)
    seconds = time.perf_counter() - started
    if status != 200 or answer["history"][0]["docs_written"] != expected:
        raise BenchError(f"the pull answered {status}: {str(answer)[:300]}")
    return seconds


def native_pulls(docs, repeat, workdir):
    servers = [helpers.start_browsercouch("--data", str(workdir / name)) for name in ("source", "target")]
    return _pulls_between(servers, docs, repeat)


def tcp_shell_pulls(docs, repeat, workdir):
    return _pulls_between([helpers.start_browser_server(workdir / name) for name in ("a", "b")], docs, repeat)


def _pulls_between(servers, docs, repeat):
    """Pull times of ``docs`` from the first server into the second, which replicates; stops both."""
    try:
        source = helpers.new_db(servers[0].url, "peers")
        bulk_insert(source, docs)

        def request(method, path, body):
            status, _, answer = helpers.http(method, servers[1].url.rstrip("/") + path, body, timeout=600)
            return status, answer
        return [pull_seconds(request, source, f"pull{run}", len(docs)) for run in range(repeat)]
    finally:
        for server in servers:
            server.stop()


def webrtc_pulls(docs, repeat, workdir):
    web = helpers.start_browsercouch(command="web")
    tabs = []
    try:
        tabs = [Tab(web.url, workdir / name) for name in ("a", "b")]
        a, b = tabs
        pair(a, b)
        fill_tab(a, "peers", docs)
        return [pull_seconds(b.request, f"http://{a.uuid}.webrtc/peers", f"pull{run}", len(docs))
                for run in range(repeat)]
    finally:
        for tab in tabs:
            tab.quit()
        web.stop()


# (name, function(docs, repeat, workdir) -> seconds of each run).
COLUMNS = (("native -> native", native_pulls), ("TCP shell tab -> tab", tcp_shell_pulls),
           ("WebRTC tab -> tab", webrtc_pulls))


def report(results, count):
    rates = {name: count / statistics.median(runs) for name, runs in results.items()}
    reference = rates["native -> native"]
    print(f"\npull {count} docs (~300 B), median of {len(next(iter(results.values())))} runs")
    print(f"{'':20} {'docs/s':>10} {'seconds':>9} {'x native':>9}")
    for name, rate in rates.items():
        print(f"{name:20} {rate:10,.0f} {count / rate:9.2f} {rate / reference:9.2f}")
    verdicts = [f"WebRTC >= {GOAL_DOCS_PER_SECOND} docs/s: "
                + ("met" if rates["WebRTC tab -> tab"] >= GOAL_DOCS_PER_SECOND else "MISSED")]
    tcp = rates.get("TCP shell tab -> tab")
    if tcp:
        verdicts.insert(0, f"TCP shell >= {GOAL_TCP_SHELL_TO_NATIVE}x native: {tcp / reference:.2f}x, "
                        + ("met" if tcp / reference >= GOAL_TCP_SHELL_TO_NATIVE else "MISSED"))
        ratio = rates["WebRTC tab -> tab"] / tcp
        verdicts.append(f"WebRTC >= {GOAL_RATIO_TO_TCP_SHELL}x the TCP shell: {ratio:.2f}x, "
                        + ("met" if ratio >= GOAL_RATIO_TO_TCP_SHELL else "MISSED"))
    for line in verdicts:
        print(line)
    return rates, verdicts


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    reason = chromium.missing_reason() or bundled.missing_reason()
    if reason:
        print(f"bench_peers: skipped: {reason}")
        return 0
    docs = make_docs(args.docs)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        for name, measure in COLUMNS:
            print(f"bench_peers: {name} ...", flush=True)
            workdir = Path(tmp) / name.split()[0]
            workdir.mkdir()
            results[name] = measure(docs, args.repeat, workdir)
    rates, verdicts = report(results, args.docs)
    out = args.out or BENCH / "results" / f"peers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"docs": args.docs, "runs": results, "docs_per_second": rates,
                               "verdicts": verdicts}, indent=1) + "\n", encoding="utf-8")
    print(f"bench_peers: results in {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        sys.exit(f"bench_peers: {error}")
