"""Helpers shared by the tests and the benchmarks: loopback HTTP requests and servers run as subprocesses.

Servers under test are real processes on 127.0.0.1, never a shared or pre-existing server:

- ``start_browsercouch(*args)`` runs ``browsercouch serve --host 127.0.0.1 --port 0 ...`` and waits for its
  one ready line, ``browsercouch listening on http://127.0.0.1:PORT/``. ``BROWSERCOUCH_CMD`` (a shell-quoted
  command) replaces ``python -m browsercouch``, e.g. to try another interpreter.
- ``start_pouchdb_server(workdir)`` runs the npm ``pouchdb-server`` 4.2.0 installed by ``build.py`` in
  ``tests/node`` as the CouchDB-compatible reference. It cannot listen on port 0 (it treats 0 as "unset" and
  falls back to 5984), so we pick a free port and retry if another process takes it first.

Both return a ``ServerProcess``; call ``stop()`` when done. ``server_output(url)`` gives a running server's
output for failure messages. Only loopback addresses are ever targets.
"""

import asyncio
import base64
import collections
import functools
import http.client as http_client
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "tests" / "node"
NODE_MODULES = NODE_DIR / "node_modules"
POUCHDB_SERVER_BIN = NODE_MODULES / "pouchdb-server" / "bin" / "pouchdb-server"

# Generous: a cold start imports the whole package (browsercouch) or ~450 npm modules (pouchdb-server).
START_TIMEOUT = 30.0
# Chromium loading Pyodide on a fresh profile, on a loaded CI machine.
BROWSER_START_TIMEOUT = 120.0
# Seconds a server gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
# Lines of server output kept for failure messages.
OUTPUT_TAIL = 200
# Servers started and not yet stopped, by base URL: lets a failing test show the server's side.
RUNNING = {}
READY_LINE = re.compile(r"^browsercouch (?:web app |browser )?listening on (http://\S+/)(?:\s.*)?$")


def async_test(fn=None, *, timeout=60):
    """Run an ``async def`` test in a fresh event loop, failing it after ``timeout`` seconds; as
    ``@async_test`` or ``@async_test(timeout=30)``."""
    if fn is None:
        return functools.partial(async_test, timeout=timeout)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout))

    return wrapper


def http(method, url, body=None, headers=None, timeout=30.0):
    """Do one HTTP request to a loopback server.

    ``body``: ``None``, ``bytes``/``str`` (sent as is) or any JSON value (sent as ``application/json``).
    ``Accept: application/json`` is sent unless ``headers`` says otherwise (CouchDB answers ``text/plain``
    without it). Credentials in the URL (``http://user:pass@127.0.0.1:PORT/``) become a Basic
    ``Authorization`` header.
    Returns ``(status, headers, payload)``: ``headers`` is an ``http.client.HTTPMessage`` (case-insensitive
    ``get``) and ``payload`` the decoded JSON when the answer says ``application/json``, else ``bytes``.
    Raises ``ValueError`` for a non-loopback host, ``OSError`` when the connection fails.
    """
    parts = urllib.parse.urlsplit(url)
    _require_loopback(parts.hostname)
    headers = {"Accept": "application/json", **(headers or {})}
    if parts.username is not None:
        creds = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers.setdefault("Authorization", "Basic " + base64.b64encode(creds.encode()).decode())
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = http_client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, resp.headers, _decode(resp.headers, data)


def _decode(headers, data):
    if (headers.get("Content-Type") or "").startswith("application/json") and data:
        return json.loads(data)
    return data


def _require_loopback(host):
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"refusing a non-loopback target: {host!r}")


def new_db(base_url, prefix="test"):
    """Create a database with a fresh random name on the server at ``base_url``; return its URL (no slash)."""
    name = f"{prefix}-{secrets.token_hex(6)}"
    status, _, payload = http("PUT", base_url.rstrip("/") + "/" + name)
    if status not in (201, 202):
        raise AssertionError(f"PUT /{name} answered {status}: {payload!r}")
    return base_url.rstrip("/") + "/" + name


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago (another process may take it: retry on failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_node_steps(script, *args, timeout=120):
    """Run ``tests/node/SCRIPT ARGS`` and return the JSON object it prints (its steps' answers)."""
    proc = subprocess.run(["node", script, *map(str, args)], cwd=NODE_DIR, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def node_missing_reason():
    """Why the Node reference peers cannot run here, or ``None`` when they can."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not POUCHDB_SERVER_BIN.exists():
        return "tests/node/node_modules is missing: run `python build.py` to install the npm reference peers"
    return None


class ServerProcess:
    """A server subprocess: ``url`` (base URL with a trailing slash), ``stop()``, ``output()``."""

    def __init__(self, proc, url=None, log=None):
        self.proc = proc
        self.url = url
        self._log = log
        self._lines = collections.deque(maxlen=OUTPUT_TAIL)
        self._pump = None
        self._final_log = ""

    def output(self):
        """The tail of what the server wrote: the stdout lines we read, then its log (stderr) file."""
        return "".join(self._lines) + self._log_tail()

    def _log_tail(self, limit=20_000):
        if self._log is None:
            return ""
        if self._log.closed:
            return self._final_log
        # pread: the server shares this file's offset, so never seek it.
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - limit)
        return os.pread(fd, size - start, start).decode(errors="replace")

    def stop(self):
        """Terminate the server (SIGTERM, then SIGKILL after ``STOP_TIMEOUT``); return its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        if self._pump is not None:
            self._pump.join(STOP_TIMEOUT)
        if self._log is not None and not self._log.closed:
            self._final_log = self._log_tail()
            self._log.close()
        RUNNING.pop(self.url, None)
        return self.proc.returncode

    def _start_pump(self):
        """Read stdout on a daemon thread until EOF; return an Event set once the ready line has come.

        The thread keeps the pipe drained, so a chatty server never blocks on a full pipe.
        """
        ready = threading.Event()

        def pump():
            with self.proc.stdout:
                for line in iter(self.proc.stdout.readline, ""):
                    self._lines.append(line)
                    match = READY_LINE.match(line)
                    if match and not ready.is_set():
                        self.url = match.group(1)
                        ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        return ready

    def _fail(self, why):
        self.stop()
        raise RuntimeError(f"{why}: {shlex.join(self.proc.args)}\n--- server output ---\n{self.output()}")


def server_output(base_url):
    """The output tail of the running server at ``base_url`` (for failure messages), or ``""``."""
    server = RUNNING.get(base_url)
    return server.output() if server else ""


def browsercouch_command():
    """The command that runs browsercouch: ``$BROWSERCOUCH_CMD`` or ``python -m browsercouch``."""
    override = os.environ.get("BROWSERCOUCH_CMD")
    return shlex.split(override) if override else [sys.executable, "-m", "browsercouch"]


def start_browser_server(profile, *args, port=None, timeout=BROWSER_START_TIMEOUT):
    """Start ``browsercouch browser --headless`` (Chromium with the extension serving on a loopback port)
    on the profile directory ``profile``; return a ``ServerProcess`` once the browser serves. ``stop()``
    ends Chromium too. The same profile can be started again (its databases persist)."""
    port = port or free_port()
    cmd = [*browsercouch_command(), "browser", "--headless", "--port", str(port), "--profile", str(profile),
           *args]
    return _start(cmd, timeout, "browsercouch browser")


def start_browsercouch(*args, timeout=START_TIMEOUT, command="serve"):
    """Start ``browsercouch serve`` on 127.0.0.1, port 0; return a ``ServerProcess`` once it is listening.

    ``args`` are extra CLI arguments (``--data DIR``, ``--admin USER:PASS``, ``--cors ORIGIN``); without
    ``--data`` the server runs with ``--memory``. Raises ``RuntimeError`` (with the server's output) when it
    exits or stays silent for ``timeout`` seconds. ``command="web"`` starts ``browsercouch web`` (the web
    app's static files) instead.
    """
    storage = [] if "--data" in args or command != "serve" else ["--memory"]
    cmd = [*browsercouch_command(), command, "--host", "127.0.0.1", "--port", "0", *storage, *args]
    return _start(cmd, timeout, f"browsercouch {command}")


def _start(cmd, timeout, name):
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                            text=True, bufsize=1)
    server = ServerProcess(proc, log=log)
    ready = server._start_pump()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if proc.poll() is not None:
            server._fail(f"{name} exited with {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            server._fail(f"{name} printed no ready line within {timeout} s")
    _require_loopback(urllib.parse.urlsplit(server.url).hostname)
    RUNNING[server.url] = server
    return server


def start_pouchdb_server(workdir, in_memory=True, timeout=START_TIMEOUT, attempts=3):
    """Start the npm pouchdb-server 4.2.0 on 127.0.0.1, its files in ``workdir``; return a ``ServerProcess``.

    ``in_memory=False`` keeps the databases in LevelDB files under ``workdir``. Raises ``RuntimeError`` when
    it does not answer ``GET /`` within ``timeout`` seconds on any of ``attempts`` free ports.
    """
    reason = node_missing_reason()
    if reason:
        raise RuntimeError(reason)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        server = _spawn_pouchdb_server(workdir, free_port(), in_memory)
        ready = False
        try:
            ready = _wait_for_pouchdb_server(server, timeout)
        finally:
            if not ready:
                server.stop()
        if ready:
            RUNNING[server.url] = server
            return server
    raise RuntimeError(f"pouchdb-server did not answer GET / within {timeout} s on {attempts} ports: "
                       f"{shlex.join(server.proc.args)}\n--- server output ---\n{server.output()}")


def pouchdb_server_command(workdir, port, in_memory=True):
    """The exact pouchdb-server command line: Node 20 needs ``--unhandled-rejections=warn`` or the server
    dies on its first rejected promise; ``--config``/``--dir`` (and the cwd, for ``log.txt``) keep its files
    in ``workdir``; ``--no-stdout-logs`` stops it echoing its request log."""
    return [
        "node", "--unhandled-rejections=warn", str(POUCHDB_SERVER_BIN),
        "--host", "127.0.0.1", "--port", str(port),
        "--dir", str(workdir), "--config", str(workdir / "config.json"),
        "--no-stdout-logs", "--no-color",
        *(["--in-memory"] if in_memory else []),
    ]


def _spawn_pouchdb_server(workdir, port, in_memory):
    log = open(workdir / f"pouchdb-server-{port}.out", "w+b")
    proc = subprocess.Popen(pouchdb_server_command(workdir, port, in_memory), cwd=workdir,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return ServerProcess(proc, url=f"http://127.0.0.1:{port}/", log=log)


def _wait_for_pouchdb_server(server, timeout):
    """True once ``GET /`` answers with pouchdb-server's welcome; False if it died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.proc.poll() is None:
        try:
            status, _, payload = http("GET", server.url, timeout=2)
        except OSError:
            time.sleep(0.1)
            continue
        # Another process may have taken the port between free_port() and listen(): check who answers.
        return status == 200 and isinstance(payload, dict) and "express-pouchdb" in payload
    return False


# --- Apache CouchDB 3.4.3, the reference peer ---------------------------------------------------------

# The release beside the checkout (../shared/couchdb, see its README); COUCHDB_RELEASE_DIR overrides it.
COUCHDB_RELEASE = Path(os.environ.get("COUCHDB_RELEASE_DIR", REPO.parent / "shared" / "couchdb"))
COUCHDB_ADMIN = ("admin", "password")


def couchdb_missing_reason():
    """Why Apache CouchDB cannot run here, or ``None`` when it can."""
    if not (COUCHDB_RELEASE / "start.sh").exists():
        return (f"Apache CouchDB 3.4.3 is not here ({COUCHDB_RELEASE}/start.sh is missing; set "
                "COUCHDB_RELEASE_DIR to the shared release to run these tests)")
    if shutil.which("curl") is None:
        return "curl is not on PATH (the CouchDB release's start.sh needs it)"
    return None


class CouchDBProcess:
    """One Apache CouchDB node started by the release's ``start.sh``: ``url`` (with admin credentials in
    it, trailing slash), ``plain_url`` (without), ``auth`` (``user:password``), ``data_dir``, ``stop()``,
    ``start()`` (again, on the same data), ``log()``."""

    def __init__(self, data_dir, port, q=None):
        self.data_dir, self.port, self.q = Path(data_dir), port, q
        self.auth = ":".join(COUCHDB_ADMIN)
        self.url = f"http://{self.auth}@127.0.0.1:{port}/"
        self.plain_url = f"http://127.0.0.1:{port}/"

    def start(self, timeout=START_TIMEOUT):
        env = dict(os.environ, COUCHDB_START_TIMEOUT=str(int(timeout)))
        if self.q is not None:
            env["COUCHDB_Q"] = str(self.q)
        result = subprocess.run(["sh", str(COUCHDB_RELEASE / "start.sh"), str(self.port), str(self.data_dir)],
                                env=env, capture_output=True, text=True, timeout=timeout + 30)
        if result.returncode != 0:
            raise RuntimeError(f"CouchDB did not start on port {self.port}: {result.stderr.strip()}")
        RUNNING[self.url] = self
        return self

    def stop(self):
        pid_file = self.data_dir / "couchdb.pid"
        if pid_file.exists():
            subprocess.run(["sh", str(COUCHDB_RELEASE / "stop.sh"), str(self.data_dir)], capture_output=True,
                           timeout=STOP_TIMEOUT + 10)
        RUNNING.pop(self.url, None)

    def log(self, limit=20_000):
        path = self.data_dir / "couchdb.log"
        return path.read_text(errors="replace")[-limit:] if path.exists() else ""

    output = log


def start_couchdb(data_dir, q=None, attempts=3):
    """Start Apache CouchDB 3.4.3 on 127.0.0.1 (admin:password) with its state in ``data_dir``; ``q`` is the
    shard count of new databases (CouchDB 3's default is 2). Returns a ``CouchDBProcess``; retries on
    another free port when the one picked was taken meanwhile."""
    reason = couchdb_missing_reason()
    if reason:
        raise RuntimeError(reason)
    error = None
    for _ in range(attempts):
        try:
            return CouchDBProcess(data_dir, free_port(), q).start()
        except RuntimeError as err:
            error = err
    raise error
