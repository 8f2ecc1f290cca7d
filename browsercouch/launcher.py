"""``browsercouch browser``: the browser becomes the server, in one command.

It registers the socket bridge with a Chromium profile (``bridge.install``), starts Chromium with the
extension that ships in the package (``bundled.EXTENSION_DIR``) loaded, opens the extension's start URL,
which makes it serve its databases on ``--port``; then it waits until that port answers with
browsercouch's welcome, prints the URL, and keeps Chromium running until Ctrl-C or until the browser is
closed.

The start URL cannot go on Chromium's command line: the first tab navigates before the extension is
loaded and shows an error page. So Chromium runs with ``--remote-debugging-pipe`` (the DevTools protocol
on two inherited file descriptors, private to this process, unlike a debugging port), and the URL is
opened with ``Target.createTarget`` once the extension's service worker is up.

Chromium, not Google Chrome: Chrome 137+ ignores ``--load-extension`` (DESIGN.md section 5).
"""

import errno
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from . import bundled
from .bridge import EXTENSION_ID, install

__all__ = ["EXTENSION_DIR", "find_chromium", "launch", "missing_reason"]

EXTENSION_DIR = bundled.EXTENSION_DIR
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Always (DESIGN.md section 6): without the background-networking flags Chromium keeps calling home.
QUIET_FLAGS = ("--no-first-run", "--no-default-browser-check", "--disable-background-networking",
               "--disable-component-update", "--disable-sync")
HEADLESS_FLAGS = ("--headless=new", "--disable-gpu", "--disable-quic")
# The LAN admin's USER:PASS, in the profile directory.
ADMIN_FILE = "browsercouch-admin"
# Seconds for the extension to load Pyodide and start serving on a cold profile.
READY_TIMEOUT = 120.0


def find_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing_reason():
    """Why ``browsercouch browser`` cannot run here, or ``None``."""
    if find_chromium() is None:
        return "Chromium is not installed (Debian: apt install chromium)"
    return bundled.missing_reason(EXTENSION_DIR)


def start_url(port, lan, admin, cors=(), hostnames=(), name=None):
    """The extension's start URL; ``cors`` and ``hostnames`` always go in (empty: none), so the command's
    origins and names replace whatever the popup or an earlier command had set; ``name`` is the display
    name announced on the LAN (the stored one when ``None``)."""
    query = {"port": port, "then": "app", "cors": list(cors) or [""], "hostname": list(hostnames) or [""]}
    if name:
        query["name"] = name
    if lan:
        query["lan"] = 1
        query["admin"] = admin
    return f"chrome-extension://{EXTENSION_ID}/start.html?{urlencode(query, doseq=True)}"


def is_origin(text):
    """Whether ``text`` is ``*`` or a web origin (``scheme://host[:port]``), as ``--cors`` takes them."""
    return text == "*" or re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+/?", text) is not None


def chromium_command(profile, headless):
    flags = [f"--user-data-dir={profile}", f"--load-extension={EXTENSION_DIR}",
             f"--disable-extensions-except={EXTENSION_DIR}", "--remote-debugging-pipe", *QUIET_FLAGS]
    if headless:
        flags += HEADLESS_FLAGS
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return [find_chromium(), *flags]


class DevToolsPipe:
    """The DevTools protocol over ``--remote-debugging-pipe``: Chromium reads commands on its fd 3 and
    writes answers and events on its fd 4, each a JSON message ended by a NUL byte."""

    def __init__(self):
        self._to_child, self._commands = os.pipe()
        self._answers, self._from_child = os.pipe()
        self._buffer = b""
        self._next_id = 0

    def child_setup(self):
        """In the child, before exec: the pipe ends on fds 3 and 4."""
        os.dup2(self._to_child, 3)
        os.dup2(self._from_child, 4)

    def parent_setup(self):
        os.close(self._to_child)
        os.close(self._from_child)

    def call(self, method, timeout=10.0, **params):
        """Send one command and return its ``result``; ``RuntimeError`` on an error or no answer."""
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params}
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error'].get('message')}")
                return message.get("result", {})

    def _message(self, deadline):
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._answers], [], [], remaining)[0]:
                raise RuntimeError("Chromium's DevTools pipe did not answer")
            chunk = os.read(self._answers, 65536)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)


def open_when_loaded(devtools, url, timeout=30.0):
    """Open ``url`` in a new tab once the extension's service worker runs."""
    origin = f"chrome-extension://{EXTENSION_ID}/"
    deadline = time.monotonic() + timeout
    while not any(target["url"].startswith(origin)
                  for target in devtools.call("Target.getTargets")["targetInfos"]):
        if time.monotonic() > deadline:
            raise RuntimeError("the browsercouch extension did not load")
        time.sleep(0.1)
    devtools.call("Target.createTarget", url=url)


def _welcome(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def wait_until_serving(process, port, timeout=READY_TIMEOUT):
    """The welcome of the extension's server once ``port`` answers; ``RuntimeError`` if Chromium exits
    or nothing answers within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited with status {process.returncode} before serving")
        welcome = _welcome(port)
        if welcome and welcome.get("couchdb") == "Welcome":
            return welcome
        time.sleep(0.25)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


def lan_admin(profile, admin):
    """``USER:PASS`` for LAN serving: the one given, else the one generated for this profile earlier,
    else a new random one (kept in the profile, readable by its owner only)."""
    kept = profile / ADMIN_FILE
    if admin is None and kept.is_file():
        return kept.read_text(encoding="utf-8").strip()
    admin = admin or f"admin:{secrets.token_urlsafe(12)}"
    kept.touch(mode=0o600)
    kept.write_text(admin + "\n", encoding="utf-8")
    return admin


def display_missing_reason(headless):
    """Why Chromium cannot show a window here (Linux without an X or Wayland display), or ``None``."""
    if headless or not sys.platform.startswith("linux"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("there is no display (DISPLAY and WAYLAND_DISPLAY are unset): add --headless to run Chromium "
            "without a window")


def port_taken_reason(port, lan):
    """Why the extension could not serve on ``port``, found before Chromium starts, or ``None``: a port
    another program listens on would otherwise be answered by that program under our name."""
    host = "0.0.0.0" if lan else "127.0.0.1"
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the bridge binds
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return (f"port {port} is in use on {host}: another program listens there; stop it or choose "
                        "another --port")
            return f"cannot serve on {host}:{port}: {err.strerror}"
    return None


def _exit_on_sigterm(signum, frame):
    raise SystemExit(0)  # so that `launch` stops Chromium on its way out


def say(text):
    print(text, flush=True)


def progress(text):
    """What the command is waiting for, on stderr: the first start on a profile takes a while."""
    print(f"browsercouch browser: {text}", file=sys.stderr, flush=True)


def launch(*, port, lan, profile, headless, admin=None, cors=(), hostnames=(), name=None, out=say):
    """Run Chromium serving on ``port`` until it exits or Ctrl-C, allowing the web origins ``cors`` by
    CORS and the names ``hostnames`` in ``Host``; return its exit status. Raises ``RuntimeError`` with the
    reason when it cannot serve (no display without ``headless``, a taken port, Chromium failing)."""
    reason = display_missing_reason(headless) or port_taken_reason(port, lan)
    if reason:
        raise RuntimeError(reason)
    profile = Path(profile).expanduser().resolve()
    install.install("chromium", profile)
    if lan:
        admin = lan_admin(profile, admin)
    devtools = DevToolsPipe()
    progress(f"starting Chromium on the profile {profile}")
    process = subprocess.Popen(chromium_command(profile, headless), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(3, 4),
                               preexec_fn=devtools.child_setup, start_new_session=True)
    devtools.parent_setup()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        try:
            open_when_loaded(devtools, start_url(port, lan, admin, cors, hostnames, name))
        except RuntimeError as error:
            if process.poll() is not None:
                raise RuntimeError(f"Chromium exited with status {process.returncode} at start (is another "
                                   f"Chromium running on the profile {profile}?)") from None
            raise error
        progress("the extension is loading Pyodide and its databases (5-10 s on a new profile)")
        welcome = wait_until_serving(process, port)
        out(f"browsercouch browser listening on http://127.0.0.1:{port}/ (Chromium, profile {profile}, "
            f"server uuid {welcome.get('uuid')})")
        if lan:
            name, password = admin.split(":", 1)
            out(f"LAN peers: http://{name}:{password}@<this machine's address>:{port}/ "
                "(the extension's popup lists the addresses)")
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
