"""The browser extension (``web/extension/``, built into ``browsercouch/extension/``) in real headless
Chromium: it loads, carries the web app, keeps
its settings across browser restarts, and, with the socket bridge installed in the profile, makes the
browser serve its databases on a loopback port: a peer's ``GET /`` gets the tab's uuid, serving survives a
browser restart and a killed bridge, and LAN mode demands the admin's credentials.

The extension is driven through its message API (``chrome.runtime.sendMessage`` from one of its pages) and
its start URL (``start.html?port=P``). Only loopback addresses are ever targets.
"""

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import chromium
import pytest
from helpers import REPO, free_port, http

from browsercouch import bundled
from browsercouch.bundled import EXTENSION_DIR

EXTENSION_ID = "edappoeabkibckncmnabfemlfdbckanp"
ORIGIN = f"chrome-extension://{EXTENSION_ID}/"
BRIDGE_HOST = REPO / "browsercouch" / "bridge" / "host.py"
# Pyodide loads in 5-8 s on a fresh profile; a loaded CI machine can take several times that.
READY_TIMEOUT = 90
# A killed bridge is relaunched after 0.25 s; the new channel then reaches the worker.
RESUME_TIMEOUT = 30
# Longer than Chromium's idle timeout for extension service workers (30 s).
IDLE_SECONDS = 40

pytestmark = [pytest.mark.chromium, pytest.mark.slow]


def _missing_reason():
    return chromium.missing_reason() or bundled.missing_reason()


def _bridge_missing_reason():
    return None if BRIDGE_HOST.exists() else "needs the socket bridge (browsercouch/bridge/host.py)"


needs_bridge = pytest.mark.skipif(_bridge_missing_reason() is not None,
                                  reason=_bridge_missing_reason() or "")


@pytest.fixture(scope="module")
def extension_app():
    """The extension with the web app in it, as ``python build.py`` builds it into the package."""
    reason = _missing_reason()
    if reason:
        pytest.skip(reason)
    return EXTENSION_DIR


# The states start.html waits for (see web/extension/start.js).
SETTLED = ("serving", "failed", "stopped")

APP_REQUEST_SCRIPT = """
const [method, path, body, done] = arguments;
window.browsercouch.couch.request(method, path, {
  headers: {"content-type": "application/json"}, body: body === null ? undefined : body,
}).then((r) => done([r.status, r.text()]), (e) => done([0, JSON.stringify(String(e))]));
"""

MESSAGE_SCRIPT = """
const [message, done] = arguments;
chrome.runtime.sendMessage(message).then(done, (error) => done({error: String(error)}));
"""


class Browser:
    """One headless Chromium on one profile, with the extension loaded and its popup page open."""

    def __init__(self, profile):
        self.profile = profile
        self.driver = None

    def open(self):
        flags = (f"--load-extension={EXTENSION_DIR}", f"--disable-extensions-except={EXTENSION_DIR}")
        self.driver = chromium.launch(self.profile, *flags)
        self.get("popup.html")
        return self

    def get(self, page):
        self.driver.get(ORIGIN + page)

    def message(self, message):
        return self.driver.execute_async_script(MESSAGE_SCRIPT, message)

    def status(self):
        return self.message({"type": "status"})

    def wait_for(self, states, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status["state"] in states:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"state {status['state']}, not {states}:\n" + "\n".join(status["log"]))
            time.sleep(0.2)

    def start_page(self, query):
        """Open the start URL (``start.html?QUERY``) and wait for what it settles on: its own status."""
        self.get(f"start.html?{query}")
        deadline = time.monotonic() + READY_TIMEOUT
        while (state := self.driver.execute_script("return document.body.dataset.state")) not in SETTLED:
            assert time.monotonic() < deadline, f"start.html stuck in {state}: {self.status()['log']}"
            time.sleep(0.2)
        return json.loads(self.driver.execute_script("return document.body.dataset.status"))

    def app_uuid(self):
        """Open the web app inside the extension; the uuid of the browsercouch it runs."""
        self.get("app/index.html")
        deadline = time.monotonic() + READY_TIMEOUT
        while (state := self.driver.execute_script("return document.body.dataset.ready")) != "1":
            assert state != "failed" and time.monotonic() < deadline, self.console()
            time.sleep(0.1)
        return self.driver.execute_script("return window.browsercouch.couch.info.uuid")

    def app_request(self, method, path, body=None):
        """A request through the open web app (its ``couch``, in process): ``(status, JSON)``."""
        text = None if body is None else json.dumps(body)
        status, payload = self.driver.execute_async_script(APP_REQUEST_SCRIPT, method, path, text)
        return status, json.loads(payload)

    def bridge_pids(self):
        """The bridge processes this browser started (not another test's), by walking each one's parents."""
        found = subprocess.run(["pgrep", "-f", "browsercouch.bridge"], capture_output=True, text=True)
        root = self.driver.service.process.pid
        return [int(pid) for pid in found.stdout.split() if _descends_from(int(pid), root)]

    def console(self):
        return "\n".join(entry["message"] for entry in self.driver.get_log("browser"))

    def quit(self):
        if self.driver is not None:
            self.driver.quit()
            self.driver = None

    def restart(self):
        self.quit()
        return self.open()


def _descends_from(pid, root):
    while pid > 1:
        if pid == root:
            return True
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


@pytest.fixture
def profile(extension_app, tmp_path):
    return tmp_path / "profile"


@pytest.fixture
def browser(profile):
    opened = Browser(profile)
    yield opened
    opened.quit()


@pytest.fixture
def bridged_profile(profile):
    """A profile with the native messaging host manifest of the socket bridge installed."""
    if _bridge_missing_reason():
        pytest.skip(_bridge_missing_reason())
    subprocess.run([sys.executable, "-m", "browsercouch", "install-bridge", "--user-data-dir", str(profile)],
                   check=True, cwd=REPO)
    assert (profile / "NativeMessagingHosts" / "org.browsercouch.bridge.json").exists()
    return profile


def _basic(admin):
    token = base64.b64encode(f"{admin['name']}:{admin['password']}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _get_when_served(url, headers=None, timeout=RESUME_TIMEOUT):
    """``GET url`` retried until the tab answers (the bridge may be relaunching)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return http("GET", url, headers=headers, timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# --- the extension alone ---------------------------------------------------------------------------------

def test_manifest_fixes_the_id_and_allows_wasm():
    manifest = json.loads((EXTENSION_DIR / "manifest.json").read_text())
    digest = hashlib.sha256(base64.b64decode(manifest["key"])).hexdigest()[:32]
    assert "".join(chr(ord("a") + int(c, 16)) for c in digest) == EXTENSION_ID
    assert "'wasm-unsafe-eval'" in manifest["content_security_policy"]["extension_pages"]
    assert {"nativeMessaging", "storage", "offscreen"} <= set(manifest["permissions"])


def test_loads_with_its_popup_and_the_web_app(browser):
    browser.open()
    status = browser.status()
    assert status["state"] == "stopped" and status["serving"] is False
    assert status["port"] == 61984 and status["lan"] is False and status["admin"] is None
    assert status["urls"] == ["http://127.0.0.1:61984/"]
    assert browser.driver.execute_script("return document.body.dataset.state") == "stopped"
    uuid = browser.app_uuid()
    assert len(uuid) == 32
    severe = [e for e in browser.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_without_the_bridge_starting_fails_with_advice(browser):
    browser.open()
    browser.message({"type": "start", "port": free_port(), "lan": False})
    status = browser.wait_for({"failed"}, timeout=30)
    assert "install-bridge" in status["error"]
    assert status["serving"] is False


def test_bad_port_is_refused(browser):
    browser.open()
    status = browser.message({"type": "start", "port": 70000, "lan": False})
    assert "not a TCP port" in status["error"]
    assert status["serving"] is False and status["state"] == "stopped"


def test_lan_settings_and_the_generated_password_persist_across_a_restart(browser):
    browser.open()
    port = free_port()
    status = browser.message({"type": "start", "port": port, "lan": True})
    admin = status["admin"]
    assert admin["name"] == "admin" and len(admin["password"]) >= 20  # LAN never goes without credentials
    browser.wait_for({"failed"}, timeout=30)  # no bridge in this profile
    browser.restart()
    status = browser.status()
    assert (status["port"], status["lan"], status["admin"]) == (port, True, admin)
    # Back to loopback: no credentials are handed out, but the password is kept for the next LAN start.
    browser.message({"type": "start", "port": port, "lan": False})
    assert browser.status()["admin"] is None
    assert browser.message({"type": "start", "port": port, "lan": True})["admin"] == admin


# --- serving through the bridge -------------------------------------------------------------------------

@needs_bridge
def test_serves_the_tab_survives_a_browser_restart_and_a_killed_bridge(bridged_profile):
    browser = Browser(bridged_profile).open()
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        status = browser.start_page(f"port={port}")
        assert status["state"] == "serving", status
        assert status["urls"] == [url]

        status_code, _, welcome = http("GET", url)
        assert status_code == 200 and welcome["couchdb"] == "Welcome"
        assert welcome["uuid"] == status["uuid"] == browser.app_uuid()
        assert http("PUT", url + "kept")[0] == 201
        assert http("PUT", url + "kept/doc", {"n": 1})[0] == 201
        # The app's tab and the peers share one worker: each sees the other's writes at once (two workers
        # would each hold their own copy of the databases).
        assert browser.app_request("GET", "/kept/doc")[1]["n"] == 1
        assert browser.app_request("PUT", "/kept/from-app", {"app": True})[0] == 201
        assert http("GET", url + "kept/from-app")[2]["app"] is True

        browser.restart()  # no start message: the extension resumes on its own
        assert browser.wait_for({"serving", "failed"})["state"] == "serving"
        assert _get_when_served(url + "kept/doc")[2]["n"] == 1

        pids = browser.bridge_pids()
        assert pids, "no bridge process found under this browser"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        status_code, _, doc = _get_when_served(url + "kept/doc")
        assert status_code == 200 and doc["n"] == 1
        assert browser.bridge_pids() and not set(browser.bridge_pids()) & set(pids)
        assert any("restarting the bridge" in line for line in browser.status()["log"])

        browser.message({"type": "stop"})
        with pytest.raises(OSError):
            http("GET", url, timeout=5)
    finally:
        browser.quit()


@needs_bridge
def test_a_port_in_use_fails_with_the_reason(bridged_profile):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        browser = Browser(bridged_profile).open()
        try:
            status = browser.start_page(f"port={port}")
            assert status["state"] == "failed" and f"cannot listen on {port}" in status["error"]
            assert status["serving"] is False
        finally:
            browser.quit()


@needs_bridge
def test_lan_mode_requires_the_admin(bridged_profile):
    browser = Browser(bridged_profile).open()
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"  # loopback only, even though LAN mode listens on every interface
        assert browser.start_page(f"port={port}")["state"] == "serving"
        assert http("GET", url + "_all_dbs")[0] == 200  # loopback: admin party

        # Switching to the LAN on the same port: the old listener is gone before the new one binds.
        status = browser.start_page(f"port={port}&lan=1")
        assert status["state"] == "serving", status
        assert status["host"] == "0.0.0.0", status
        admin = status["admin"]
        assert http("GET", url + "_all_dbs")[0] == 401
        assert http("PUT", url + "lan-db")[0] == 401
        assert http("GET", url + "_all_dbs", headers=_basic(admin))[0] == 200
        assert http("PUT", url + "lan-db", headers=_basic(admin))[0] == 201
    finally:
        browser.quit()


@needs_bridge
def test_keeps_serving_with_no_extension_page_open(bridged_profile):
    """An idle MV3 service worker is stopped after 30 s; the bridge's native port keeps this one alive, and
    the offscreen document keeps the shared worker alive."""
    browser = Browser(bridged_profile).open()
    try:
        port = free_port()
        assert browser.start_page(f"port={port}")["state"] == "serving"
        browser.driver.get("about:blank")
        deadline = time.monotonic() + IDLE_SECONDS
        while time.monotonic() < deadline:
            assert http("GET", f"http://127.0.0.1:{port}/")[0] == 200
            time.sleep(5)
        browser.get("popup.html")
        assert not any("resuming" in line for line in browser.status()["log"])
    finally:
        browser.quit()


# Design functions the tab runs in its QuickJS (web/quickjs-engine.js), as CouchDB 3.4.3 answers them.
TAB_DESIGN = {
    "views": {
        "by_n": {"map": "function(doc) { if (doc.n !== undefined) emit(doc.n, doc.t); }", "reduce": "_count"},
        "total": {"map": "function(doc) { if (doc.t) emit(doc.t, doc.n); }",
                  "reduce": "function(keys, values, rereduce) { return sum(values); }"},
        "throws": {"map": "function(doc) { if (doc.n === 2) throw new Error('no'); emit(doc._id, null); }"},
    },
    "validate_doc_update": """function(newDoc, oldDoc, userCtx) {
        if (newDoc.forbid) throw({forbidden: 'no way'});
        if (newDoc.unauth) throw({unauthorized: 'who'});
    }""",
    "filters": {"x": "function(doc, req) { return doc.t === 'x'; }"},
}
TAB_DOCS = [{"_id": f"d{n}", "n": n, "t": "yx"[n % 2]} for n in range(1, 7)]  # odd n: "x"


@needs_bridge
def test_the_tab_runs_design_functions(bridged_profile):
    """Views (built, keyed, reduced by a built-in and by JavaScript), validate_doc_update, a filter and
    _find, served by the tab over TCP; an endless map function is stopped after os_process_timeout and
    the tab answers the next query."""
    browser = Browser(bridged_profile).open()
    try:
        port = free_port()
        db = f"http://127.0.0.1:{port}/js"
        assert browser.start_page(f"port={port}")["state"] == "serving"
        assert http("PUT", db)[0] == 201
        assert http("POST", db + "/_bulk_docs", {"docs": TAB_DOCS})[0] == 201
        assert http("PUT", db + "/_design/d", TAB_DESIGN)[0] == 201

        status, _, body = http("GET", db + "/_design/d/_view/by_n?reduce=false&startkey=2&endkey=4")
        assert status == 200, body
        assert [(r["key"], r["id"], r["value"]) for r in body["rows"]] == [(2, "d2", "y"), (3, "d3", "x"),
                                                                          (4, "d4", "y")]
        assert body["total_rows"] == 6 and body["offset"] == 1
        assert http("GET", db + "/_design/d/_view/by_n?key=5")[2]["rows"] == [{"key": None, "value": 1}]
        assert http("GET", db + "/_design/d/_view/total?group=true")[2]["rows"] == [
            {"key": "x", "value": 9}, {"key": "y", "value": 12}]
        assert [r["id"] for r in http("GET", db + "/_design/d/_view/throws")[2]["rows"]] == [
            "d1", "d3", "d4", "d5", "d6"]

        status, _, body = http("PUT", db + "/bad", {"forbid": True})
        assert (status, body) == (403, {"error": "forbidden", "reason": "no way"})
        status, _, body = http("PUT", db + "/who", {"unauth": True})
        assert (status, body) == (401, {"error": "unauthorized", "reason": "who"})
        assert http("PUT", db + "/fine", {"n": 7, "t": "x"})[0] == 201
        assert [r["id"] for r in http("GET", db + "/_changes?filter=d/x")[2]["results"]] == [
            "d1", "d3", "d5", "fine"]
        # Mango needs no engine, and answers beside it.
        assert http("POST", db + "/_index", {"index": {"fields": ["n"]}})[0] == 200
        status, _, found = http("POST", db + "/_find", {"selector": {"n": {"$gt": 4}}, "fields": ["_id"]})
        assert (status, found["docs"]) == (200, [{"_id": "d5"}, {"_id": "d6"}, {"_id": "fine"}]), found
        # The page's own requests reach the same engine.
        browser.app_uuid()
        assert browser.app_request("GET", "/js/_design/d/_view/by_n")[1]["rows"] == [
            {"key": None, "value": 7}]

        endless = {"views": {"v": {"map": "function(doc) { while (true) {} }"}}}
        assert http("PUT", db + "/_design/loop", endless)[0] == 201
        status, _, body = http("GET", db + "/_design/loop/_view/v")
        assert (status, body["error"], body["reason"]) == (500, "os_process_error", "OS process timed out.")
        assert http("GET", db + "/_design/d/_view/by_n?key=7")[2]["rows"] == [{"key": None, "value": 1}]
    finally:
        browser.quit()
