"""Issue 12 item 4: natively, connections that send nothing are closed after the idle timeout (also before
their first request), a request head that trickles in is cut after the header timeout, and connections
beyond a cap below the process's file limit are answered 503 at once, so idle clients cannot exhaust
the server's files. ``--help`` says the limits."""

import resource
import socket
import subprocess
import sys
import time

from helpers import REPO, http, start_browsercouch

from .support import port_of, responses

UP = b"GET /_up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"


def _closed_within(sock, seconds):
    """Whether the server closes ``sock`` within ``seconds`` (reading and dropping what it sends)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_idle_connections_are_closed_before_and_after_a_request():
    server = start_browsercouch("--idle-timeout", "1")
    port = port_of(server.url)
    try:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as silent:
            assert _closed_within(silent, 10)
        assert time.monotonic() - started < 5
        with socket.create_connection(("127.0.0.1", port)) as used:
            used.sendall(UP % port)
            used.settimeout(5)
            assert used.recv(4096).startswith(b"HTTP/1.1 200")
            assert _closed_within(used, 10)
    finally:
        server.stop()


def test_a_trickling_request_head_is_cut():
    server = start_browsercouch("--header-timeout", "1")
    port = port_of(server.url)
    try:
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started, cut = time.monotonic(), False
            while not cut and time.monotonic() - started < 10:
                try:
                    slow.sendall(b"X: y\r\n")
                except OSError:
                    break
                cut = _closed_within(slow, 0.3)
            assert time.monotonic() - started < 5
    finally:
        server.stop()


def _fill(port, count):
    """Open up to ``count`` keep-alive connections, one request each; ``(open sockets, statuses)``."""
    kept, statuses = [], []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(UP % port)
        data = b""
        try:
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            statuses.append(None)
            kept.append(sock)
            break
        answer = responses(data)[0]
        statuses.append(answer.status_code)
        if answer.status_code == 503:
            assert b'"service_unavailable"' in answer.body and b"connections" in answer.body
            assert _closed_within(sock, 5)
            sock.close()
        else:
            kept.append(sock)
    return kept, statuses


def test_connections_beyond_the_cap_get_503():
    server = start_browsercouch("--max-connections", "5")
    port = port_of(server.url)
    try:
        kept, statuses = _fill(port, 8)
        assert statuses == [200] * 5 + [503] * 3
        kept.pop().close()
        time.sleep(0.3)
        assert http("GET", server.url + "_up")[0] == 200
        for sock in kept:
            sock.close()
    finally:
        server.stop()


def _low_file_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


def test_the_default_cap_is_below_the_file_limit():
    cmd = [sys.executable, "-m", "browsercouch", "serve", "--port", "0", "--memory"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_low_file_limit)
    try:
        port = port_of(proc.stdout.readline().split()[-1])
        kept, statuses = _fill(port, 200)
        assert None not in statuses, "a connection got no answer: the server ran out of files"
        served = statuses.count(200)
        assert 50 < served < 200 and statuses[served:] == [503] * (200 - served), statuses
        for sock in kept:
            sock.close()
        time.sleep(0.5)
        assert http("GET", f"http://127.0.0.1:{port}/_up")[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_help_says_the_limits():
    serve = subprocess.run([sys.executable, "-m", "browsercouch", "serve", "--help"], cwd=REPO,
                           capture_output=True, text=True).stdout
    for option in ("--idle-timeout", "--header-timeout", "--max-connections"):
        assert option in serve
    assert "60" in serve and "30" in serve and "file limit" in serve
    browser = subprocess.run([sys.executable, "-m", "browsercouch", "browser", "--help"], cwd=REPO,
                             capture_output=True, text=True).stdout
    assert "idle" in browser and "60 s" in browser and "30 s" in browser
