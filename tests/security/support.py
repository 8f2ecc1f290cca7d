"""Helpers for the security tests: raw HTTP over loopback sockets (requests ordinary clients refuse to
send, with any ``Host``), and a LAN made of a network namespace.

``lan()`` creates a namespace joined to this one by a veth pair (10.200.N.1 here, 10.200.N.2 inside) and
removes both afterwards; a server started with ``start_in(ns, ...)`` runs inside it, so the only
non-loopback traffic goes to an address inside a namespace the test created. It needs root and ``ip``.
"""

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import h11
from helpers import REPO, ServerProcess

# Seconds a raw exchange waits for the server's answer.
READ_TIMEOUT = 10.0
# Seconds a server started inside a namespace gets to print its ready line (Chromium loading Pyodide).
START_TIMEOUT = 120.0


def send_raw(port, data, *, host="127.0.0.1", timeout=READ_TIMEOUT):
    """Send ``data`` on a new connection and read until the server closes it or goes silent for
    ``timeout`` seconds; return ``(received bytes, closed_by_server)``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            pass
    return received, True


@dataclasses.dataclass
class Answer:
    status_code: int
    headers: list
    body: bytes = b""


def responses(data):
    """The ``Answer``s (status, headers, body) in ``data``, parsed strictly with h11."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    found = []
    while True:
        event = client.next_event()
        if type(event) is h11.Response:
            found.append(Answer(event.status_code, list(event.headers)))
        elif type(event) is h11.Data:
            found[-1].body += event.data
        elif type(event) is h11.EndOfMessage:
            if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                return found
            client.start_next_cycle()
            client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
            client.send(h11.EndOfMessage())
        else:  # NEED_DATA, ConnectionClosed
            return found


def request(port, method, target, *, host_header, headers=(), body=b"", host="127.0.0.1"):
    """One request with the given ``Host`` header (``None``: none at all, as HTTP/1.0); returns
    ``(status, JSON body or bytes)``."""
    head = [f"{method} {target} HTTP/1.{0 if host_header is None else 1}"]
    if host_header is not None:
        head.append(f"Host: {host_header}")
    head += [f"{name}: {value}" for name, value in headers]
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    data, _ = send_raw(port, ("\r\n".join(head) + "\r\n\r\n").encode() + body, host=host)
    response = responses(data)[0]
    return response.status_code, _json_or_bytes(response.body)


def _json_or_bytes(body):
    try:
        return json.loads(body)
    except ValueError:
        return body


def port_of(url):
    return int(url.rstrip("/").rsplit(":", 1)[1])


# --- a LAN of network namespaces ------------------------------------------------------------------------

def lan_missing_reason():
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs root on Linux (a network namespace with a veth pair)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    return None


def _ip(*args, namespace=None):
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def lan():
    """A namespace reachable at 10.200.N.2 from here (10.200.N.1); yields ``(name, address inside)``."""
    name = f"bcsec-{secrets.token_hex(3)}"
    subnet = 1 + int.from_bytes(secrets.token_bytes(1)) % 250
    outside, inside = f"10.200.{subnet}.1", f"10.200.{subnet}.2"
    veth = f"v{name[-6:]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", veth + "p")
        _ip("link", "set", veth + "p", "netns", name)
        _ip("addr", "add", f"{outside}/24", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("addr", "add", f"{inside}/24", "dev", veth + "p", namespace=name)
        _ip("link", "set", veth + "p", "up", namespace=name)
        _ip("link", "set", "lo", "up", namespace=name)
        yield name, inside
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def start_in(namespace, *args, timeout=START_TIMEOUT):
    """Run ``python -m browsercouch ARGS`` inside ``namespace``; a ``ServerProcess`` once it is ready
    (its ``url`` names 127.0.0.1 inside the namespace: use the port only)."""
    cmd = ["ip", "netns", "exec", namespace, sys.executable, "-m", "browsercouch", *args]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                            text=True, bufsize=1)
    server = ServerProcess(proc, log=log)
    ready = server._start_pump()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{' '.join(cmd)} did not start:\n{server.output()}")
    return server

