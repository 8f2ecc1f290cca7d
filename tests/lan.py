"""A LAN on one machine for the peer tests: two network namespaces joined by a veth pair (10.200.N.1 and
10.200.N.2, multicast on, so DNS-SD over mDNS works between them), and headless Chromium with the
browsercouch extension serving the LAN inside either.

Nothing the tests send leaves the namespaces they create: each browser's Chromium and chromedriver run
inside its namespace (``ip netns exec``), and this process reaches their loopback ports through
``forward.py`` (a path-named Unix socket, which every namespace shares), so it talks to ``127.0.0.1:P``
here as if it were inside. ``link(False)`` takes the veth down (the LAN cable pulled), ``link(True)``
back up. Everything is removed afterwards, also on failure. Needs root and iproute2.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import chromium
from helpers import REPO, free_port

from browsercouch.bundled import EXTENSION_DIR

HERE = Path(__file__).resolve().parent
ORIGIN = "chrome-extension://edappoeabkibckncmnabfemlfdbckanp/"
# Pyodide loads in 5-8 s on a fresh profile; a loaded machine takes several times that.
READY_TIMEOUT = 120
STATUS_SCRIPT = """
const [done] = arguments;
chrome.runtime.sendMessage({type: "status"}).then(done, (error) => done({error: String(error)}));
"""


def missing_reason():
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs root on Linux (network namespaces joined by a veth pair)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    probe = f"bcprobe-{secrets.token_hex(3)}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "`ip netns add` fails here (no network namespaces)"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return chromium.missing_reason()


def _ip(*args, namespace=None):
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, timeout=30)


class Lan:
    """Two namespaces, ``names[i]`` at ``addresses[i]``, joined by one veth pair."""

    def __init__(self):
        tag = secrets.token_hex(3)
        subnet = 1 + secrets.randbelow(250)
        self.names = [f"bclan-{tag}-a", f"bclan-{tag}-b"]
        self.addresses = [f"10.200.{subnet}.1", f"10.200.{subnet}.2"]
        self.veths = [f"bc{tag}a", f"bc{tag}b"]
        self.workdir = Path(tempfile.mkdtemp(prefix="bclan-"))
        self._processes = []

    def create(self):
        for name in self.names:
            _ip("netns", "add", name)
        _ip("link", "add", self.veths[0], "type", "veth", "peer", "name", self.veths[1])
        for name, veth, address in zip(self.names, self.veths, self.addresses, strict=True):
            _ip("link", "set", veth, "netns", name)
            _ip("addr", "add", f"{address}/24", "dev", veth, namespace=name)
            _ip("link", "set", veth, "up", "multicast", "on", namespace=name)
            _ip("link", "set", "lo", "up", namespace=name)
        return self

    def remove(self):
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for name in self.names:  # deleting a namespace deletes the veth end inside it, and so the pair
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def link(self, up):
        """Take the veth pair down (no LAN) or up again."""
        _ip("link", "set", self.veths[0], "up" if up else "down", namespace=self.names[0])

    def run(self, index, *command, timeout=60):
        """Run ``command`` inside namespace ``index``; its ``CompletedProcess`` (text)."""
        return subprocess.run(["ip", "netns", "exec", self.names[index], *command], capture_output=True,
                              text=True, timeout=timeout, cwd=REPO)

    def forward(self, index, port):
        """Make ``127.0.0.1:port`` here reach ``127.0.0.1:port`` inside namespace ``index``."""
        path = self.workdir / f"{index}-{port}.sock"
        script = str(HERE / "forward.py")
        inside = ["ip", "netns", "exec", self.names[index], sys.executable, script, f"unix:{path}",
                  f"tcp:127.0.0.1:{port}"]
        for command in (inside, [sys.executable, script, f"tcp:127.0.0.1:{port}", f"unix:{path}"]):
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            self._processes.append(process)
            assert process.stdout.readline().strip() == "ready", f"{command} did not start"
        return f"http://127.0.0.1:{port}/"


def _alive(pid):
    """Whether process ``pid`` runs (a zombie, dead but not yet waited for, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@contextlib.contextmanager
def lan():
    created = Lan()
    try:
        yield created.create()
    finally:
        created.remove()


class LanBrowser:
    """Headless Chromium with the extension, in namespace ``index`` of ``lan``, on a profile kept across
    restarts; ``serve()`` makes it serve the LAN on ``port`` with ``admin`` (``USER:PASS``) as ``name``."""

    def __init__(self, lan, index, name, admin):
        self.lan, self.index, self.name, self.admin = lan, index, name, admin
        self.profile = lan.workdir / f"profile-{index}"
        self.port = free_port()
        self.driver = None
        self.url = lan.forward(index, self.port)  # here, on loopback
        self.lan_url = f"http://{lan.addresses[index]}:{self.port}/"
        subprocess.run([sys.executable, "-m", "browsercouch", "install-bridge", "--user-data-dir",
                        str(self.profile)], check=True, cwd=REPO, capture_output=True)

    def open(self):
        """Start Chromium (chromedriver inside the namespace, reached through a forwarded port)."""
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        driver_port = free_port()
        self.lan.forward(self.index, driver_port)
        wrapper = self.lan.workdir / f"chromedriver-{self.index}"
        wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {self.lan.names[self.index]} "
                           f"{chromium.binaries()[1]} \"$@\"\n")
        wrapper.chmod(0o755)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium.binaries()[0]
        for flag in (*chromium.FLAGS, f"--user-data-dir={self.profile}", f"--load-extension={EXTENSION_DIR}",
                     f"--disable-extensions-except={EXTENSION_DIR}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(str(wrapper), port=driver_port), options=options)
        self.driver.set_script_timeout(60)
        return self

    def serve(self):
        user, password = self.admin.split(":", 1)
        self.driver.get(f"{ORIGIN}start.html?port={self.port}&lan=1&admin={user}:{password}&name={self.name}")
        return self.wait_serving()

    def wait_serving(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while (status := self.status()).get("state") != "serving":
            assert status.get("state") != "failed" and time.monotonic() < deadline, status
            time.sleep(0.3)
        return status

    def status(self):
        """The extension's status (an extension page must be open: the app, the popup, start.html)."""
        return self.driver.execute_async_script(STATUS_SCRIPT)

    def kill(self):
        """SIGKILL the browser (a crash: nothing is saved on the way out); chromedriver is stopped."""
        service = self.driver.service.process.pid
        children = [int(pid) for pid in Path(f"/proc/{service}/task/{service}/children").read_text().split()]
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in children):
            assert time.monotonic() < deadline, f"Chromium {children} outlived SIGKILL"
            time.sleep(0.05)
        self.driver.service.stop()
        self.driver = None

    def quit(self):
        if self.driver is not None:
            self.driver.quit()
            self.driver = None
