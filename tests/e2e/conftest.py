"""The web app in real headless Chromium (Debian's, via ``tests/chromium.py``), served by a real
``browsercouch web`` on 127.0.0.1 (the app built into the package). Skipped with the reason when Chromium
or the app is missing.

- ``web_url``: the web app's base URL (one ``browsercouch web`` for the module).
- ``App``: one browser on one profile with the app open; ``restart()`` quits and relaunches on the same
  profile, ``crash()`` kills every process of that browser with SIGKILL first.
- ``app.request(method, path, body)``: a request to the tab's browsercouch through the page
  (``window.browsercouch.couch``), as ``(status, JSON or text)``.
"""

import json
import subprocess
import time

import chromium
import pytest
from helpers import REPO, start_browsercouch

from browsercouch import bundled

READY_TIMEOUT = 60
ARTIFACTS = REPO / "tests" / "artifacts"


def pytest_collection_modifyitems(items):
    reason = chromium.missing_reason()
    if reason is None:
        reason = bundled.missing_reason()
    for item in items:
        item.add_marker(pytest.mark.chromium)
        item.add_marker(pytest.mark.slow)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def web_url():
    server = start_browsercouch(command="web")
    yield server.url
    server.stop()


REQUEST_SCRIPT = """
const [method, path, body, done] = arguments;
window.browsercouch.couch.request(method, path, {
  headers: {"content-type": "application/json"}, body: body === null ? undefined : body,
}).then((r) => done([r.status, r.text()]), (e) => done([0, String(e)]));
"""


class App:
    """``flags`` go to Chromium; ``permissions`` (CDP ``Browser.grantPermissions`` names) are granted to the
    app's origin before it loads."""

    def __init__(self, web_url, profile, flags=(), permissions=()):
        self.web_url = web_url
        self.profile = profile
        self.flags = tuple(flags)
        self.permissions = list(permissions)
        self.browser = None
        self.ready_seconds = None

    def open(self, page="index.html"):
        """Open the app's ``page`` (``index.html?remote=URL`` browses that CouchDB instead of the tab's)."""
        self.browser = chromium.launch(self.profile, *self.flags)
        if self.permissions:
            self.browser.execute_cdp_cmd("Browser.grantPermissions", {
                "origin": self.web_url.rstrip("/"), "permissions": self.permissions})
        started = time.monotonic()
        self.browser.get(self.web_url + page)
        deadline = started + READY_TIMEOUT
        while True:
            state = self.browser.execute_script("return document.body && document.body.dataset.ready")
            if state == "1":
                break
            if state == "failed" or time.monotonic() > deadline:
                status = self.browser.execute_script("return document.querySelector('#status').textContent")
                raise AssertionError(f"the app did not get ready ({state}): {status}\n{self.console()}")
            time.sleep(0.05)
        self.ready_seconds = time.monotonic() - started
        return self

    def reload(self):
        self.browser.refresh()
        return self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while self.browser.execute_script("return document.body && document.body.dataset.ready") != "1":
            assert time.monotonic() < deadline, f"the app did not get ready again\n{self.console()}"
            time.sleep(0.05)
        return self

    def request(self, method, path, body=None):
        text = body if body is None or isinstance(body, str) else json.dumps(body)
        status, payload = self.browser.execute_async_script(REQUEST_SCRIPT, method, path, text)
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload

    def console(self):
        return "\n".join(entry["message"] for entry in self.browser.get_log("browser"))

    def screenshot(self, name):
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.browser.save_screenshot(str(path))
        return path

    def quit(self):
        if self.browser is not None:
            self.browser.quit()
            self.browser = None

    def restart(self):
        self.quit()
        return self.open()

    def crash(self):
        """Kill the browser as a power cut would kill a tab: SIGKILL, no chance to flush anything."""
        pattern = f"--user-data-dir={self.profile}"
        killed = subprocess.run(["pkill", "-KILL", "-f", "--", pattern], check=False)
        assert killed.returncode == 0, "no process of this browser was found to kill"
        time.sleep(0.5)
        try:
            self.browser.quit()
        except Exception:
            pass  # the driver's browser is gone already: that is the point
        self.browser = None


@pytest.fixture
def app(web_url, tmp_path):
    opened = App(web_url, tmp_path / "profile")
    yield opened
    opened.quit()
