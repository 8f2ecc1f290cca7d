"""A serving tab driven through Selenium: headless Chromium with the extension (bridge installed in its
profile) serving on a loopback port, and the extension's status (the popup's log) readable."""

import json
import time

import chromium

from browsercouch.bundled import EXTENSION_DIR

ORIGIN = "chrome-extension://edappoeabkibckncmnabfemlfdbckanp/"
# Pyodide loads in 5-8 s on a fresh profile; a loaded machine takes several times that.
READY_TIMEOUT = 120
MESSAGE_SCRIPT = """
const [message, done] = arguments;
chrome.runtime.sendMessage(message).then(done, (error) => done({error: String(error)}));
"""


class Tab:
    def __init__(self, profile):
        self.profile = profile
        self.driver = None
        self.port = None

    def open(self):
        self.driver = chromium.launch(self.profile, f"--load-extension={EXTENSION_DIR}",
                                      f"--disable-extensions-except={EXTENSION_DIR}")
        self.driver.get(ORIGIN + "popup.html")
        return self

    def status(self):
        """The extension's status: ``state``, ``log`` (its events, then the worker's access log), ..."""
        return self.driver.execute_async_script(MESSAGE_SCRIPT, {"type": "status"})

    def serve(self, port, query=""):
        """Serve on ``port`` through the start URL (``start.html?port=P&QUERY``); wait until serving."""
        self.driver.get(f"{ORIGIN}start.html?port={port}&{query}")
        deadline = time.monotonic() + READY_TIMEOUT
        while (state := self.driver.execute_script("return document.body.dataset.state")) != "serving":
            assert state not in ("failed", "stopped") and time.monotonic() < deadline, self.status()["log"]
            time.sleep(0.2)
        self.port = port
        return json.loads(self.driver.execute_script("return document.body.dataset.status"))

    def log_lines(self, wanted, timeout=10):
        """The popup log's lines once one contains ``wanted`` (the worker reports every second)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.status()["log"]
            if any(wanted in line for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.3)

    def quit(self):
        if self.driver is not None:
            self.driver.quit()
            self.driver = None
