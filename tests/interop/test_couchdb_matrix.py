"""Apache CouchDB 3.4.3 and browsercouch replicate with each other: the interop matrix of issue 11.

Each cell is a test named ``[browsercouch-replicator-direction]``:

- **browsercouch**: ``native`` is ``browsercouch serve`` (in memory); ``tab`` is a headless Chromium
  serving the databases it keeps in the browser through the extension (``browsercouch browser``).
- **replicator**, the party that runs the replication: ``couchdb`` is CouchDB's own replicator
  (``POST /_replicate`` on CouchDB, both databases given as URLs); ``browsercouch`` is browsercouch's
  (``POST /_replicate`` on the browsercouch server, its own database named locally, CouchDB's by URL; in the
  tab that replicator reaches CouchDB with the extension's ``fetch()``, which CouchDB allows by CORS);
  ``pouchdb`` is PouchDB's, in Node (``tests/node/couchdb_replicate.mjs``), a client between both URLs.
- **direction**, from browsercouch's side: ``pull`` moves the data CouchDB -> browsercouch, ``push``
  browsercouch -> CouchDB; ``continuous`` runs both at once, live, while both sides are written to.

A one-shot cell seeds the source with the 1,000-document data set of ``couchdb_peers`` (attachments
small, compressible, binary and 3 MB; conflicts; deletions; a design document; ``_local`` documents),
replicates into an empty database, and checks with ``couchdb_peers.fingerprint`` that the target has
every leaf revision, winner, ``_conflicts``, deleted leaf and attachment (bytes as read back, digest,
length, revpos) of the source; that the digests are CouchDB's, so that a round trip through browsercouch
gives CouchDB back what it had; and that no ``_local`` document was copied. Then come the continuous
cells, and a ``_replicator`` document on CouchDB pointing at the tab (both ways) that keeps replicating
across a restart of the browser and one of CouchDB. The equality check itself is shown to fail on
deliberately different prints and databases.

One CouchDB, one browsercouch and one browser serve the whole module; every cell uses fresh databases.
CouchDB is configured for the tests (``COUCHDB_CONFIG``). Only loopback addresses are ever targets.
"""

import base64
import json
import subprocess
import threading
import time

import pytest
from couchdb_peers import (
    counts,
    dataset,
    differences,
    expected_fingerprint,
    fingerprint,
    local_docs_found,
    report,
    revid,
    seed,
    without_digests,
    write_leaves,
)
from helpers import (
    NODE_DIR,
    couchdb_missing_reason,
    free_port,
    http,
    new_db,
    server_output,
    start_browser_server,
    start_browsercouch,
    start_couchdb,
)

from browsercouch import launcher
from browsercouch.bridge import EXTENSION_ID

pytestmark = [pytest.mark.slow, pytest.mark.native]

SCRIPT = NODE_DIR / "couchdb_replicate.mjs"
DATA = dataset()
EXPECTED = expected_fingerprint(DATA)
# The continuous cells and the _replicator document start from a smaller part of the data set.
LIVE_DATA = dataset(100)
SEEDED_PATHS = {leaf.doc_id: leaf.path for leaf in LIVE_DATA.leaves}
REPLICATE_TIMEOUT = 300
# How long continuous replications get to bring both sides level after the last write.
CONVERGE_TIMEOUT = 90
# CouchDB's replicator retries a request 5 times over about 8 s; a job whose peer stays away longer (a
# browser restart may) crashes, and the scheduler restarts it after a back-off of 30 s (hard-coded).
RESTART_CONVERGE_TIMEOUT = 150
LIVE_ROUNDS = 3
COUCHDB_CONFIG = {
    # The tab's replicator calls CouchDB with fetch() from the extension's pages.
    ("chttpd", "enable_cors"): "true",
    ("cors", "origins"): f"chrome-extension://{EXTENSION_ID}",
    # The scheduler looks for jobs to (re)start every 2 s instead of every 60 s, and starts them without
    # CouchDB's random delay of up to 5 s: the same behaviour, sooner.
    ("replicator", "interval"): "2000",
    ("replicator", "startup_jitter"): "0",
}

CHROMIUM = [pytest.mark.chromium,
            pytest.mark.skipif(launcher.missing_reason() is not None, reason=launcher.missing_reason() or "")]
NODE = [pytest.mark.node]
PEERS = [pytest.param("native", id="native"), pytest.param("tab", id="tab", marks=CHROMIUM)]
REPLICATORS = [pytest.param("couchdb", id="couchdb"), pytest.param("browsercouch", id="browsercouch"),
               pytest.param("pouchdb", id="pouchdb", marks=NODE)]


# --- the servers -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def couch(tmp_path_factory):
    """One Apache CouchDB for the module (its own: a test restarts it), configured by ``COUCHDB_CONFIG``."""
    reason = couchdb_missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_couchdb(tmp_path_factory.mktemp("couchdb-matrix"))
    try:
        for (section, key), value in COUCHDB_CONFIG.items():
            status, _, answer = http("PUT", f"{server.url}_node/_local/_config/{section}/{key}",
                                     json.dumps(value))
            assert status == 200, (section, key, status, answer)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def native():
    server = start_browsercouch()
    yield server.url
    server.stop()


class Browser:
    """The module's headless Chromium serving through the extension; ``stop()`` then ``start()`` keep the
    profile (and so its databases) and the port, as a user restarting the browser does."""

    def __init__(self, profile):
        self.profile, self.port = profile, free_port()
        self.start()
        self.url = self.server.url

    def start(self):
        self.server = start_browser_server(self.profile, port=self.port)

    def stop(self):
        self.server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    tab = Browser(tmp_path_factory.mktemp("matrix") / "profile")
    yield tab
    tab.stop()


@pytest.fixture(params=PEERS)
def peer(request):
    """The base URL (trailing slash) of the browsercouch under test: native or the tab."""
    return request.getfixturevalue("native") if request.param == "native" else \
        request.getfixturevalue("browser").url


def _local_name(peer_url, db_url):
    """``db_url`` as the browsercouch at ``peer_url`` names it locally, or the URL for a remote one."""
    return db_url[len(peer_url):] if db_url.startswith(peer_url) else db_url


def _couchdb_errors(couch, limit=4000):
    lines = [line for line in couch.log(200_000).splitlines() if line.startswith("[error]")]
    return "\n".join(lines)[-limit:]


# --- running each replicator ------------------------------------------------------------------------------

def replicate_once(replicator, couch, peer_url, source, target):
    """Replicate ``source`` into ``target`` (database URLs, one on CouchDB, the other on ``peer_url``)
    with ``replicator``; fail with the replicator's own words unless it completed without errors."""
    if replicator == "pouchdb":
        proc = subprocess.run(["node", str(SCRIPT), source, target], cwd=NODE_DIR, capture_output=True,
                              text=True, timeout=REPLICATE_TIMEOUT)
        lines = proc.stdout.strip().splitlines()
        assert proc.returncode == 0 and lines, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
        return json.loads(lines[-1])
    runner = couch.url if replicator == "couchdb" else peer_url
    body = {"source": source, "target": target}
    if replicator == "browsercouch":
        body = {"source": _local_name(peer_url, source), "target": _local_name(peer_url, target)}
    status, _, answer = http("POST", runner + "_replicate", body, timeout=REPLICATE_TIMEOUT)
    failures = answer.get("history", [{}])[0].get("doc_write_failures") if isinstance(answer, dict) else None
    assert status == 200 and answer.get("ok") and not failures, (
        f"{replicator}'s replicator answered {status}: {json.dumps(answer)[:3000]}\n"
        f"--- CouchDB's errors ---\n{_couchdb_errors(couch)}\n"
        f"--- browsercouch ---\n{server_output(peer_url)}")
    return answer


class LiveBothWays:
    """Continuous replication both ways between ``couch_db`` and ``peer_db``, run by ``replicator``;
    ``state()`` says how the jobs are doing (for failure messages), ``stop()`` cancels them."""

    def __init__(self, replicator, couch, peer_url, couch_db, peer_db):
        self.replicator, self.couch, self.peer_url = replicator, couch, peer_url
        self.jobs, self.lines, self.proc = [], [], None
        if replicator == "pouchdb":
            self.proc = subprocess.Popen(["node", str(SCRIPT), couch_db, peer_db, "--live"], cwd=NODE_DIR,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True)
            self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
            self._reader.start()
            return
        self.runner = couch.url if replicator == "couchdb" else peer_url
        for source, target in ((couch_db, peer_db), (peer_db, couch_db)):
            if replicator == "browsercouch":
                source, target = _local_name(peer_url, source), _local_name(peer_url, target)
            status, _, answer = http("POST", self.runner + "_replicate",
                                     {"source": source, "target": target, "continuous": True})
            assert status in (200, 202) and answer.get("ok"), (status, answer)
            self.jobs.append(answer["_local_id"])

    def state(self):
        if self.proc is not None:
            return "".join(self.lines)[-3000:]
        status, _, jobs = http("GET", self.runner + "_scheduler/jobs")
        found = json.dumps(jobs)[:3000]
        if self.replicator == "couchdb":
            return f"{found}\n--- CouchDB's errors ---\n{_couchdb_errors(self.couch)}"
        return f"{found}\n--- browsercouch ---\n{server_output(self.peer_url)[-3000:]}"

    def stop(self):
        """Cancel both; return ``{"ok": ...}``, false unless both were still running (for PouchDB: its
        final summary)."""
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(60)
            self._reader.join(10)
            return json.loads(self.lines[-1]) if self.lines else {"ok": False, "error": "no output"}
        answers = [http("POST", self.runner + "_replicate", {"replication_id": job, "cancel": True})
                   for job in self.jobs]
        return {"ok": all(status == 200 for status, _, _ in answers),
                "cancelled": [(status, answer) for status, _, answer in answers]}


# --- convergence ----------------------------------------------------------------------------------------

def leaves(db_url):
    """``{id: sorted leaf revisions}`` of ``db_url``, or ``None`` when it cannot be read right now."""
    try:
        status, _, feed = http("GET", db_url + "/_changes?style=all_docs", timeout=10)
    except OSError:
        return None
    if status != 200:
        return None
    return {row["id"]: sorted(change["rev"] for change in row["changes"]) for row in feed["results"]}


def wait_until_level(a, b, written, timeout, state=lambda: ""):
    """Wait until ``a`` and ``b`` have the same leaves, among them every ``(id, rev)`` of ``written``."""
    deadline = time.monotonic() + timeout
    while True:
        left, right = leaves(a), leaves(b)
        if left is not None and left == right and all(rev in left.get(i, ()) for i, rev in written):
            return
        if time.monotonic() > deadline:
            missing = [(i, rev) for i, rev in written
                       if rev not in (left or {}).get(i, ()) or rev not in (right or {}).get(i, ())]
            raise AssertionError(f"not level after {timeout} s; {len(missing)} writes missing on a side, "
                                 f"e.g. {missing[:5]}\n--- the replication ---\n{state()}")
        time.sleep(0.5)


def _winner(db_url, doc_id):
    status, _, doc = http("GET", f"{db_url}/{doc_id}?revs=true")
    assert status == 200, (doc_id, status, doc)
    return doc


def _inline(data, content_type):
    return {"content_type": content_type, "data": base64.b64encode(data).decode()}


def write_round(db_url, side, round_, written):
    """Writes on one side while replications run: new documents (text and binary attachments), a branch
    of a document that the other side branches too (a conflict), a deletion, and an attachment added to
    an existing document. Adds each ``(id, rev)`` written to the set ``written``: all must end as leaves
    on both sides. Each round touches other documents of ``LIVE_DATA``."""
    docs = [{"_id": f"live-{side}-{round_}-{k}", "n": k, "side": side} for k in range(10)]
    docs[0]["_attachments"] = {"live.txt": _inline(f"round {round_} on {side}\n".encode() * 40, "text/plain")}
    docs[1]["_attachments"] = {"live.bin": _inline(bytes(range(256)) * 4, "application/octet-stream")}
    status, _, answer = http("POST", db_url + "/_bulk_docs", {"docs": docs})
    assert status == 201 and all("rev" in row for row in answer), answer
    written.update((row["id"], row["rev"]) for row in answer)
    base = 10 * (round_ + 1)

    branched = f"doc-{base:04d}"  # from its seeded revision on both sides, whatever came across already
    path = [revid(branched, side, round_), *SEEDED_PATHS[branched]]
    write_leaves(db_url, [{"_id": branched, "_rev": f"{len(path)}-{path[0]}", "edited_on": side,
                           "_revisions": {"start": len(path), "ids": path}}])
    written.add((branched, f"{len(path)}-{path[0]}"))

    gone = _winner(db_url, f"doc-{base + (1 if side == 'couchdb' else 2):04d}")
    status, _, answer = http("DELETE", f"{db_url}/{gone['_id']}?rev={gone['_rev']}")
    assert status == 200, answer
    written.add((gone["_id"], answer["rev"]))

    grown = _winner(db_url, f"doc-{base + (4 if side == 'couchdb' else 6):04d}")
    status, _, answer = http("PUT", f"{db_url}/{grown['_id']}/added-{side}.txt?rev={grown['_rev']}",
                             f"added on {side} in round {round_}\n" * 20, {"Content-Type": "text/plain"})
    assert status == 201, answer
    written.add((grown["_id"], answer["rev"]))


# --- checks ---------------------------------------------------------------------------------------------

def assert_replica(source, target):
    """The target holds what the source holds, digests included, and CouchDB's digests; no _local doc."""
    source_print, target_print = fingerprint(source), fingerprint(target)
    problems = {
        "the source does not hold the data set": differences(without_digests(EXPECTED),
                                                             without_digests(source_print)),
        "the target differs from the source": differences(source_print, target_print),
        "the target's attachments do not carry CouchDB's digests": differences(EXPECTED, target_print),
        "_local documents were replicated": [(doc_id, "copied", None, None)
                                             for doc_id in local_docs_found(target, DATA)],
    }
    message = "\n".join(f"== {title} ==\n{report(found)}" for title, found in problems.items() if found)
    assert not message, message
    assert counts(target_print) == counts(EXPECTED)


# --- the equality check fails where it must ----------------------------------------------------------------

def _first(prints, predicate):
    return next(doc_id for doc_id, doc in prints.items() if predicate(doc))


def _an_attachment(doc):
    return next(att for leaf in doc["leaves"].values() for att in leaf["atts"].values())


def _a_leaf(doc):
    return next(iter(doc["leaves"].values()))


def _conflicted(prints):
    return prints[_first(prints, lambda doc: doc["conflicts"])]


def _with_attachment(prints):
    return prints[_first(prints, lambda doc: doc["stubs"])]


MUTATIONS = {
    "attachment bytes": ("sha256", lambda p: _an_attachment(_with_attachment(p)).update(sha256="0" * 64)),
    "attachment digest": ("digest", lambda p: _an_attachment(_with_attachment(p)).update(digest="md5-x")),
    "attachment read back": ("read", lambda p: _with_attachment(p)["read"].update(
        {name: "0" * 64 for name in _with_attachment(p)["read"]})),
    "stub length": ("stubs", lambda p: next(iter(_with_attachment(p)["stubs"].values())).update(length=1)),
    "winner": ("winner", lambda p: _conflicted(p).update(winner=_conflicted(p)["conflicts"][0])),
    "conflicts": ("conflicts", lambda p: _conflicted(p).update(conflicts=[])),
    "leaf revisions": ("leaf revisions", lambda p: _conflicted(p)["leaves"].popitem()),
    "deleted leaf": ("deleted", lambda p: _a_leaf(_conflicted(p)).update(deleted=True)),
    "revision path": ("revisions", lambda p: _a_leaf(_conflicted(p))["revisions"].pop()),
    "body": ("body", lambda p: _a_leaf(p["doc-0001"])["body"].update(n=-1)),
    "document": ("missing on one side", lambda p: p.pop("doc-0001")),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_the_equality_check_names_each_kind_of_difference(mutation):
    what, mutate = MUTATIONS[mutation]
    changed = json.loads(json.dumps(EXPECTED))
    mutate(changed)
    found = differences(EXPECTED, changed)
    assert len(found) == 1 and what in found[0][1], found
    assert differences(EXPECTED, json.loads(json.dumps(EXPECTED))) == []


def _deliberately_different():
    """The data set with four documents changed: a byte of an attachment, a conflict branch left out,
    a deletion left out (the first revision stays), and a body."""
    data = dataset()
    leaves = []
    for leaf in data.leaves:
        if leaf.doc_id == "doc-0002":
            blob = leaf.attachments["blob.bin"]
            blob.data = bytes([blob.data[0] ^ 1]) + blob.data[1:]
        if leaf.doc_id == "doc-0057" and leaf.body.get("branch") == "b":
            continue
        if leaf.doc_id == "doc-0028":
            leaf.path, leaf.deleted, leaf.body = leaf.path[1:], False, {"revived": True}
        if leaf.doc_id == "doc-0009":
            leaf.body = {**leaf.body, "n": -9}
        leaves.append(leaf)
    data.leaves = leaves
    return data


def test_the_equality_check_fails_on_a_deliberately_different_database(native):
    same, other = new_db(native, "control"), new_db(native, "control")
    seed(same, DATA)
    seed(other, _deliberately_different())
    found = differences(fingerprint(same), fingerprint(other), limit=100)
    assert {doc_id for doc_id, *_ in found} == {"doc-0002", "doc-0057", "doc-0028", "doc-0009"}, report(found)
    copy = new_db(native, "control")
    seed(copy, DATA)
    assert differences(fingerprint(same), fingerprint(copy)) == []


# --- the data set as each server stores it ---------------------------------------------------------------

def test_couchdb_stores_the_data_set_as_expected(couch):
    """The model of CouchDB behind ``expected_fingerprint`` (its digests above all) is CouchDB's own."""
    db = new_db(couch.url, "seed")
    seed(db, DATA)
    found = differences(EXPECTED, fingerprint(db))
    assert not found, report(found)
    assert local_docs_found(db, DATA) == list(DATA.local_docs)


def test_browsercouch_stores_the_data_set_as_couchdb_does(peer):
    """Same writes, same print: revisions, bytes, and CouchDB's digests (md5 of the gzip-encoded bytes
    for compressible types), so that replicas on either side carry the same digests."""
    db = new_db(peer, "seed")
    seed(db, DATA)
    found = differences(EXPECTED, fingerprint(db))
    assert not found, report(found)
    assert local_docs_found(db, DATA) == list(DATA.local_docs)


# --- the matrix: one-shot -----------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["pull", "push"])
@pytest.mark.parametrize("replicator", REPLICATORS)
def test_one_shot(couch, peer, replicator, direction):
    couch_db, peer_db = new_db(couch.url, "matrix"), new_db(peer, "matrix")
    source, target = (couch_db, peer_db) if direction == "pull" else (peer_db, couch_db)
    seed(source, DATA)
    replicate_once(replicator, couch, peer, source, target)
    assert_replica(source, target)


# --- the matrix: continuous, both ways, writes on both sides -----------------------------------------------

@pytest.mark.parametrize("replicator", REPLICATORS)
def test_continuous(couch, peer, replicator):
    couch_db, peer_db = new_db(couch.url, "live"), new_db(peer, "live")
    seed(couch_db, LIVE_DATA)
    written = set()
    live = LiveBothWays(replicator, couch, peer, couch_db, peer_db)
    try:
        wait_until_level(couch_db, peer_db, written, CONVERGE_TIMEOUT, live.state)
        for round_ in range(LIVE_ROUNDS):
            write_round(couch_db, "couchdb", round_, written)
            write_round(peer_db, "peer", round_, written)
            time.sleep(0.2)
        wait_until_level(couch_db, peer_db, written, CONVERGE_TIMEOUT, live.state)
    finally:
        summary = live.stop()
    assert summary.get("ok"), summary
    assert_level(couch_db, peer_db, LIVE_ROUNDS)


def assert_level(couch_db, peer_db, rounds):
    """Both sides print the same, the concurrent branches made conflicts, and no _local doc moved."""
    couch_print, peer_print = fingerprint(couch_db), fingerprint(peer_db)
    found = differences(couch_print, peer_print)
    assert not found, report(found)
    for round_ in range(rounds):
        assert couch_print[f"doc-{10 * (round_ + 1):04d}"]["conflicts"], "concurrent branches, no conflict"
    assert local_docs_found(peer_db, LIVE_DATA) == []


# --- a _replicator document on CouchDB, across restarts ----------------------------------------------------

@pytest.mark.chromium
@pytest.mark.skipif(launcher.missing_reason() is not None, reason=launcher.missing_reason() or "")
def test_replicator_documents_survive_restarts_of_the_browser_and_of_couchdb(couch, browser):
    """Two ``_replicator`` documents on CouchDB, CouchDB -> tab and tab -> CouchDB, continuous. The browser
    stops (CouchDB is written to meanwhile) and starts again on the same profile and port; then CouchDB
    does (the tab is written to meanwhile); after each restart both sides are written to again, and every
    write reaches the other side. The documents' jobs are running at the end."""
    couch_db, tab_db = new_db(couch.url, "durable"), new_db(browser.url, "durable")
    seed(couch_db, LIVE_DATA)
    name = couch_db.rsplit("/", 1)[1]
    docs = {f"{name}-pull": {"source": couch_db, "target": tab_db, "continuous": True},
            f"{name}-push": {"source": tab_db, "target": couch_db, "continuous": True}}
    for doc_id, doc in docs.items():
        status, _, answer = http("PUT", f"{couch.url}_replicator/{doc_id}", doc)
        assert status == 201, answer

    def state():
        found = http("GET", f"{couch.url}_scheduler/docs/_replicator")[2]
        return json.dumps(found)[:3000] + "\n--- CouchDB's errors ---\n" + _couchdb_errors(couch)

    couch_side, tab_side = (couch_db, "couchdb"), (tab_db, "peer")
    restarts = [(browser, couch_side, tab_side), (couch, tab_side, couch_side)]  # (who restarts, up, down)
    written = set()
    try:
        wait_until_level(couch_db, tab_db, written, CONVERGE_TIMEOUT, state)
        for round_, (server, (up_db, up_side), (down_db, down_side)) in enumerate(restarts):
            server.stop()
            write_round(up_db, up_side, round_, written)
            server.start()
            write_round(down_db, down_side, round_, written)
            wait_until_level(couch_db, tab_db, written, RESTART_CONVERGE_TIMEOUT, state)
        for doc_id in docs:
            status, _, row = http("GET", f"{couch.url}_scheduler/docs/_replicator/{doc_id}")
            assert status == 200 and row["state"] == "running", row
    finally:
        for doc_id in docs:
            status, _, doc = http("GET", f"{couch.url}_replicator/{doc_id}")
            if status == 200:
                http("DELETE", f"{couch.url}_replicator/{doc_id}?rev={doc['_rev']}")
    assert_level(couch_db, tab_db, 2)
