"""Who the tab reaches, and who reaches it (issue 12, item 5).

The tab's own replicator (``POST /_replicate`` on ``browsercouch browser``) fetches its peers from the
extension's shared worker. With the manifest's ``host_permissions`` it pulls from and pushes to any
CouchDB-protocol peer with no setting on the peer: another tab, a native ``browsercouch serve`` without
``--cors``, pouchdb-server, and Apache CouchDB with CORS off. Before, each but pouchdb-server (which
allows any origin by itself) failed at once with ``peer_unavailable ... TypeError: Failed to fetch``.

Web pages reach the tab only as ``--cors`` allows (CouchDB's ``[cors]``, off by default): PouchDB's browser
build in a page served from an allowed origin syncs with the tab both ways; the same page from another
origin fails and writes nothing. The popup's CORS field sets the same. A plain page (``browsercouch
web``'s app) still needs CORS on the peers it replicates with, and its error says so.

On a LAN of network namespaces (root only), two browsers in two namespaces, each serving the LAN, replicate
with each other by their LAN addresses: Chromium's Local Network Access checks leave the extension alone.

Every target is 127.0.0.1 or an address inside the namespaces the LAN test creates.
"""

import base64
import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from http.client import HTTPConnection

import chromium
import pytest
from helpers import (
    NODE_MODULES,
    couchdb_missing_reason,
    free_port,
    http,
    new_db,
    node_missing_reason,
    server_output,
    start_browser_server,
    start_browsercouch,
    start_couchdb,
    start_pouchdb_server,
)

from browsercouch import launcher

pytestmark = [pytest.mark.chromium, pytest.mark.slow,
              pytest.mark.skipif(launcher.missing_reason() is not None,
                                 reason=launcher.missing_reason() or "")]

DOCS = 40
POUCHDB_JS = NODE_MODULES / "pouchdb" / "dist" / "pouchdb.min.js"
PAGE = """<!doctype html><meta charset="utf-8"><title>PouchDB page</title>
<script src="pouchdb.min.js"></script>"""
# A page's PouchDB: write a document locally, sync both ways with the tab's database, read the tab's
# document back; ``[ok, error, the tab's document or null]``.
SYNC_SCRIPT = """
const [remote, mine, done] = arguments;
const local = new PouchDB("page-" + Math.random().toString(36).slice(2));
local.put({_id: mine, from: location.origin})
  .then(() => PouchDB.sync(local, remote))
  .then(() => local.get("from-tab"))
  .then((doc) => done([true, null, doc]), (error) => done([false, String(error && (error.message || error.name
    || error.status) || error), null]));
"""


# --- the servers -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Two static servers of one PouchDB page: ``(allowed origin, refused origin)``."""
    reason = node_missing_reason()
    if reason or not POUCHDB_JS.exists():
        pytest.skip(reason or f"{POUCHDB_JS} is missing")
    root = tmp_path_factory.mktemp("page")
    (root / "index.html").write_text(PAGE)
    shutil.copyfile(POUCHDB_JS, root / "pouchdb.min.js")
    servers = [static_server(root) for _ in range(2)]
    yield tuple(origin for origin, _ in servers)
    for _, process in servers:
        process.terminate()
        process.wait(10)


def static_server(root, timeout=30):
    """Python's ``http.server`` serving ``root`` on 127.0.0.1: ``(origin, process)`` once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port), "-d", str(root)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http("GET", origin + "/pouchdb.min.js", timeout=2)[0] == 200:
                return origin, process
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "http.server did not start"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cors_tab(tmp_path_factory, pages):
    """``browsercouch browser --cors ORIGIN``: serving through the extension, allowing the first page."""
    server = start_browser_server(tmp_path_factory.mktemp("tab-a") / "profile", "--cors", pages[0])
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def other_tab(tmp_path_factory):
    server = start_browser_server(tmp_path_factory.mktemp("tab-b") / "profile")
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def page_browser(tmp_path_factory):
    driver = chromium.launch(tmp_path_factory.mktemp("page-browser") / "profile")
    yield driver
    driver.quit()


# --- helpers ---------------------------------------------------------------------------------------------

def seed(db_url, request=http):
    """``DOCS`` documents: one with an attachment, one deleted, one with two more branches (a conflict)."""
    docs = [{"_id": f"doc{i:03d}", "n": i} for i in range(DOCS)]
    docs[0]["_attachments"] = {"note.txt": {"content_type": "text/plain",
                                            "data": base64.b64encode(b"hello from the seed").decode()}}
    status, _, answer = request("POST", db_url + "/_bulk_docs", {"docs": docs})
    assert status == 201, answer
    status, _, deleted = request("DELETE", f"{db_url}/doc001?rev={answer[1]['rev']}")
    assert status == 200, deleted
    branches = [{"_id": "doc002", "_rev": f"2-{side * 32}", "side": side} for side in "ab"]
    status, _, answer = request("POST", db_url + "/_bulk_docs", {"docs": branches, "new_edits": False})
    assert status == 201, answer


def leaves(db_url, request=http):
    """``{id: (sorted leaf revs, the winner's body with _conflicts, its attachments' digests)}``."""
    status, _, changes = request("GET", db_url + "/_changes?style=all_docs")
    assert status == 200, changes
    found = {}
    for row in changes["results"]:
        revs = sorted(change["rev"] for change in row["changes"])
        if row.get("deleted"):
            found[row["id"]] = (revs, "deleted", {})
            continue
        status, _, doc = request("GET", f"{db_url}/{row['id']}?conflicts=true")
        assert status == 200, doc
        atts = {name: att["digest"] for name, att in doc.pop("_attachments", {}).items()}
        doc.pop("_rev")
        found[row["id"]] = (revs, doc, atts)
    return found


def replicate(server_url, source, target, request=http):
    """``POST /_replicate`` on ``server_url`` (one-shot, creating the target); its history record."""
    status, _, answer = request("POST", server_url + "_replicate",
                                {"source": source, "target": target, "create_target": True}, timeout=120)
    assert status == 200 and answer.get("ok"), (status, answer, server_output(server_url))
    return answer["history"][0]


def assert_same(a, b, request=http):
    left, right = leaves(a, request), leaves(b, request)
    differences = [(k, left.get(k), right.get(k)) for k in sorted(set(left) | set(right))
                   if left.get(k) != right.get(k)]
    assert len(left) == DOCS and not differences, differences[:5]


def round_trip(tab_url, remote_db, request=http):
    """The tab pulls ``remote_db`` (seeded) into a new database of its own and pushes that to a new
    database next to ``remote_db``; all three must hold the same leaves."""
    seed(remote_db, request)
    pulled = f"pulled-{os.urandom(4).hex()}"
    record = replicate(tab_url, remote_db, pulled, request)
    assert record["docs_written"] == DOCS + 2, record  # doc002's two branches are two documents written
    assert_same(remote_db, tab_url + pulled, request)
    pushed = remote_db + "-back"
    replicate(tab_url, pulled, pushed, request)
    assert_same(remote_db, pushed, request)


# --- the tab reaches its peers ----------------------------------------------------------------------------

def test_the_tab_pulls_from_and_pushes_to_another_tab(cors_tab, other_tab):
    round_trip(other_tab, new_db(cors_tab, "source"))


def test_the_tab_reaches_a_native_server_without_cors(other_tab):
    native = start_browsercouch()
    try:
        origin = {"Origin": "chrome-extension://edappoeabkibckncmnabfemlfdbckanp"}
        assert "Access-Control-Allow-Origin" not in http("GET", native.url, headers=origin)[1]
        round_trip(other_tab, new_db(native.url, "source"))
    finally:
        native.stop()


def test_the_tab_reaches_pouchdb_server(other_tab, tmp_path):
    if node_missing_reason():
        pytest.skip(node_missing_reason())
    pouchdb = start_pouchdb_server(tmp_path / "pouchdb")
    try:
        round_trip(other_tab, new_db(pouchdb.url, "source"))
    finally:
        pouchdb.stop()


def test_the_tab_reaches_couchdb_without_cors(other_tab, tmp_path):
    if couchdb_missing_reason():
        pytest.skip(couchdb_missing_reason())
    couchdb = start_couchdb(tmp_path / "couchdb")
    try:
        status, _, enabled = http("GET", couchdb.url + "_node/_local/_config/chttpd/enable_cors")
        assert status == 404 or enabled == "false", enabled  # unset: CouchDB's default, off
        origin = {"Origin": "chrome-extension://edappoeabkibckncmnabfemlfdbckanp"}
        assert "Access-Control-Allow-Origin" not in http("GET", couchdb.url, headers=origin)[1]
        round_trip(other_tab, new_db(couchdb.url, "source"))  # its URL carries admin:password
    finally:
        couchdb.stop()


# --- web pages reach the tab as --cors allows ----------------------------------------------------------

def test_a_web_page_syncs_with_the_tab_only_from_an_allowed_origin(cors_tab, pages, page_browser):
    allowed, refused = pages
    db = new_db(cors_tab, "pages")
    assert http("PUT", db + "/from-tab", {"written": "by the tab's owner"})[0] == 201
    preflight = http("OPTIONS", db, headers={"Origin": allowed, "Access-Control-Request-Method": "PUT"})[1]
    assert preflight["Access-Control-Allow-Origin"] == allowed
    headers = {"Origin": refused, "Access-Control-Request-Method": "PUT"}
    assert "Access-Control-Allow-Origin" not in http("OPTIONS", db, headers=headers)[1]

    page_browser.get(allowed + "/")
    ok, error, doc = page_browser.execute_async_script(SYNC_SCRIPT, db, "from-allowed-page")
    assert ok and doc["written"] == "by the tab's owner", error
    status, _, mine = http("GET", db + "/from-allowed-page")
    assert status == 200 and mine["from"] == allowed

    page_browser.get(refused + "/")
    ok, error, doc = page_browser.execute_async_script(SYNC_SCRIPT, db, "from-refused-page")
    assert not ok and doc is None, "a page of an origin --cors does not name synced with the tab"
    assert http("GET", db + "/from-refused-page")[0] == 404


def test_the_popup_sets_the_origins_allowed(tab):
    """The security tests' serving tab (``conftest.tab``), through its popup: origins typed there are
    allowed once it serves again; an empty field allows none again."""
    url = f"http://127.0.0.1:{tab.port}/"
    origins = ["http://127.0.0.1:1", "http://localhost:2"]
    try:
        status = _set_popup_cors(tab.driver, " ".join(origins))
        assert status["cors"] == origins
        for origin in origins:
            headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
            assert http("OPTIONS", url, headers=headers)[1]["Access-Control-Allow-Origin"] == origin
        headers = {"Origin": "http://127.0.0.1:3", "Access-Control-Request-Method": "PUT"}
        assert "Access-Control-Allow-Origin" not in http("OPTIONS", url, headers=headers)[1]
    finally:
        assert _set_popup_cors(tab.driver, "")["cors"] == []
    headers = {"Origin": origins[0], "Access-Control-Request-Method": "PUT"}
    assert "Access-Control-Allow-Origin" not in http("OPTIONS", url, headers=headers)[1]


def _set_popup_cors(driver, text):
    """Stop, type ``text`` in the popup's CORS field, start again; the status once serving."""
    driver.get(EXTENSION_ORIGIN + "popup.html")
    _wait_for_popup(driver, "serving")
    driver.find_element("id", "stop").click()
    _wait_for_popup(driver, "stopped")
    field = driver.find_element("id", "cors")
    field.clear()
    field.send_keys(text)
    driver.find_element("id", "start").click()
    _wait_for_popup(driver, "serving")
    return driver.execute_async_script(STATUS_SCRIPT)


def _wait_for_popup(driver, state, timeout=60):
    deadline = time.monotonic() + timeout
    while driver.execute_script("return document.body.dataset.state") != state:
        assert time.monotonic() < deadline, f"the popup never showed {state}"
        time.sleep(0.2)


EXTENSION_ORIGIN = "chrome-extension://edappoeabkibckncmnabfemlfdbckanp/"
STATUS_SCRIPT = """
const [done] = arguments;
chrome.runtime.sendMessage({type: "status"}).then(done, (error) => done({error: String(error)}));
"""


def test_the_cors_setting_is_off_by_default(other_tab):
    origin = "http://127.0.0.1:1"
    headers = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    assert "Access-Control-Allow-Origin" not in http("OPTIONS", other_tab, headers=headers)[1]
    assert "Access-Control-Allow-Origin" not in http("GET", other_tab, headers={"Origin": origin})[1]


def test_a_plain_page_says_the_peer_must_allow_its_origin(page_browser, tmp_path):
    """The web app served by ``browsercouch web`` replicates through a plain page's fetch: a peer without
    CORS for that page's origin fails, and the reason names the origin and the fix."""
    web = start_browsercouch(command="web")
    native = start_browsercouch()
    try:
        origin = web.url.rstrip("/")
        page_browser.get(web.url)
        deadline = time.monotonic() + 60
        while page_browser.execute_script("return document.body.dataset.ready") != "1":
            assert time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.2)
        source = new_db(native.url, "source")
        status, text = page_browser.execute_async_script(APP_REQUEST_SCRIPT, "POST", "/_replicate",
                                                         json.dumps({"source": source, "target": "copy",
                                                                     "create_target": True}))
        answer = json.loads(text)
        assert status >= 400 and answer["error"] == "peer_unavailable", answer
        assert "CORS" in answer["reason"] and f"--cors {origin}" in answer["reason"], answer
    finally:
        native.stop()
        web.stop()


APP_REQUEST_SCRIPT = """
const [method, path, body, done] = arguments;
window.browsercouch.couch.request(method, path, {headers: {"content-type": "application/json"}, body})
  .then((r) => done([r.status, r.text()]), (e) => done([0, JSON.stringify({error: String(e)})]));
"""


# --- a LAN of network namespaces --------------------------------------------------------------------------

# Two namespaces on one bridge, this (the root) namespace on it too, all inside LAN_NETWORK.
LAN_NETWORK = ipaddress.ip_network("10.200.12.0/24")
LAN_BRIDGE, LAN_HOST_ADDRESS = "bc12br", "10.200.12.254"
LAN_PEERS = {"bc12-a": "10.200.12.1", "bc12-b": "10.200.12.2"}
LAN_ADMIN = "admin:lan-s3cret"


def _lan_missing_reason():
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    return None


def _ip(*args, namespace=None):
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def lan():
    """The namespaces of ``LAN_PEERS`` and this one on a bridge; everything is removed afterwards."""
    try:
        _ip("link", "add", LAN_BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{LAN_HOST_ADDRESS}/24", "dev", LAN_BRIDGE)
        _ip("link", "set", LAN_BRIDGE, "up")
        for number, (namespace, address) in enumerate(LAN_PEERS.items()):
            outside, inside = f"bc12v{number}", f"bc12p{number}"
            _ip("netns", "add", namespace)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", namespace)
            _ip("link", "set", outside, "master", LAN_BRIDGE, "up")
            _ip("addr", "add", f"{address}/24", "dev", inside, namespace=namespace)
            _ip("link", "set", inside, "up", namespace=namespace)
            _ip("link", "set", "lo", "up", namespace=namespace)
        yield
    finally:
        for number, namespace in enumerate(LAN_PEERS):
            subprocess.run(["ip", "link", "del", f"bc12v{number}"], capture_output=True, timeout=30)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", LAN_BRIDGE], capture_output=True, timeout=30)


def lan_http(method, url, body=None, headers=None, timeout=30.0):
    """``helpers.http`` for the LAN's addresses (and only those)."""
    parts = urllib.parse.urlsplit(url)
    assert ipaddress.ip_address(parts.hostname) in LAN_NETWORK, url
    headers = {"Accept": "application/json", **(headers or {})}
    if parts.username:
        token = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    if body is not None:
        body = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    is_json = response.headers.get("Content-Type", "").startswith("application/json")
    return response.status, response.headers, json.loads(data) if is_json else data


@pytest.mark.skipif(_lan_missing_reason() is not None, reason=_lan_missing_reason() or "")
def test_two_browsers_on_a_lan_replicate_by_their_lan_addresses(tmp_path, monkeypatch):
    """Each browser runs in its own namespace and serves the LAN; B pulls from A and pushes back."""
    with lan():
        servers, urls = [], []
        try:
            for namespace, address in LAN_PEERS.items():
                command = f"ip netns exec {namespace} {sys.executable} -m browsercouch"
                monkeypatch.setenv("BROWSERCOUCH_CMD", command)
                port = free_port()
                servers.append(start_browser_server(tmp_path / namespace, "--lan", "--admin", LAN_ADMIN,
                                                    port=port))
                urls.append(f"http://{LAN_ADMIN}@{address}:{port}/")
            a, b = urls
            assert lan_http("GET", a.replace(f"{LAN_ADMIN}@", "") + "_all_dbs")[0] == 401
            assert lan_http("PUT", a + "source")[0] == 201
            round_trip(b, a + "source", lan_http)
        finally:
            for server in servers:
                server.stop()
