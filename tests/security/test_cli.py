"""Issue 12 item 6: the command line says clearly what is wrong. A taken port is found before anything
starts (``serve`` and ``browser``, whatever holds it), impossible ``--data`` and ``--port`` values are
one line and no traceback, ``browser`` without a display suggests ``--headless``, every command and
argument is described in ``--help``, SIGTERM stops ``serve`` and ``replicate --continuous`` as Ctrl-C
does (even when the process was started with SIGINT ignored, as a shell's background jobs are), and
``python build.py serve`` says how to stop it."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from helpers import REPO, free_port, http, start_browsercouch

from browsercouch import launcher

TIMEOUT = 30


def cli(*args, env=None, timeout=TIMEOUT):
    return subprocess.run([sys.executable, "-m", "browsercouch", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _one_line_error(done, *words):
    assert done.returncode not in (0, None), done
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("browsercouch")]
    assert len(lines) == 1 and all(word in lines[0] for word in words), done.stderr


@pytest.fixture
def taken_port():
    """A port on which a program that is no HTTP server listens (it accepts and says nothing)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_on_a_taken_port(taken_port):
    _one_line_error(cli("serve", "--memory", "--port", taken_port), str(taken_port), "in use")


@pytest.mark.skipif(launcher.missing_reason() is not None, reason=launcher.missing_reason() or "")
def test_browser_on_a_port_a_silent_program_holds(taken_port, tmp_path):
    started = time.monotonic()
    done = cli("browser", "--headless", "--port", taken_port, "--profile", tmp_path / "p")
    _one_line_error(done, str(taken_port), "in use")
    assert time.monotonic() - started < 15


@pytest.mark.skipif(launcher.missing_reason() is not None, reason=launcher.missing_reason() or "")
def test_browser_on_a_port_another_couchdb_serves(tmp_path):
    other = start_browsercouch()
    try:
        port = int(other.url.rstrip("/").rsplit(":", 1)[1])
        done = cli("browser", "--headless", "--port", port, "--profile", tmp_path / "p")
        _one_line_error(done, str(port), "in use")
        assert "listening" not in done.stdout
    finally:
        other.stop()


@pytest.mark.skipif(launcher.missing_reason() is not None, reason=launcher.missing_reason() or "")
def test_browser_without_a_display_suggests_headless(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in ("DISPLAY", "WAYLAND_DISPLAY")}
    started = time.monotonic()
    done = cli("browser", "--port", free_port(), "--profile", tmp_path / "p", env=env)
    _one_line_error(done, "no display", "--headless")
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("args, words", [
    (["serve", "--data", "/etc/passwd"], ["/etc/passwd", "not a directory"]),
    (["serve", "--data", "/proc/nope"], ["/proc/nope"]),
    (["serve", "--port", "99999"], ["99999", "0-65535"]),
    (["serve", "--port", "-1"], ["-1", "0-65535"]),
    (["web", "--port", "99999"], ["99999", "0-65535"]),
    (["browser", "--port", "99999"], ["99999", "0-65535"]),
    (["replicate", "a", "b", "--data", "/etc/passwd"], ["/etc/passwd", "not a directory"]),
])
def test_impossible_values_are_one_line(args, words):
    _one_line_error(cli(*args), *words)


def test_help_describes_every_command_and_argument():
    top = cli("--help").stdout
    assert "``" not in top and "`" not in top.split("positional arguments")[0]
    commands = ["serve", "replicate", "sync", "web", "browser", "bridge", "install-bridge", "extension-path",
                "extension-zip"]
    for command in commands:
        text = cli(command, "--help").stdout
        usage_end = text.index("\n\n")
        description = text[usage_end:].strip().split("\n\n")[0]
        assert not description.startswith(("positional", "options")), (command, text)
        if "--log-level" in text:
            after = text.split("--log-level {debug,info,warning,error}", 1)[1].lstrip()
            assert after and not after.startswith("-"), (command, "--log-level has no help")
    for command, names in (("replicate", ("SOURCE", "TARGET")), ("sync", ("A", "B"))):
        text = cli(command, "--help").stdout
        arguments = text.split("positional arguments:")[1].split("options:")[0]
        for name in names:
            line = next(line for line in arguments.splitlines() if line.strip().startswith(name))
            assert line.strip() != name, (command, name, "has no help")


def test_a_missing_target_names_the_flag(tmp_path):
    source = start_browsercouch()
    try:
        assert http("PUT", source.url + "src")[0] == 201
        done = cli("replicate", source.url + "src", "other", "--data", tmp_path)
    finally:
        source.stop()
    assert done.returncode != 0 and "--create-target" in done.stderr, done.stderr


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts background jobs


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, start", [(signal.SIGTERM, _ignore_sigint), (signal.SIGINT, _default_sigint)])
def test_serve_stops_on_a_signal(sig, start, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "browsercouch", "serve", "--port", "0", "--data",
                             tmp_path / "d"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=start)
    try:
        assert "listening" in proc.stdout.readline()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err


@pytest.mark.parametrize("sig, start", [(signal.SIGTERM, _ignore_sigint), (signal.SIGINT, _default_sigint)])
def test_continuous_replication_stops_on_a_signal(sig, start, tmp_path):
    source = start_browsercouch()
    try:
        assert http("PUT", source.url + "live")[0] == 201
        assert http("PUT", source.url + "live/one", {"n": 1})[0] == 201
        proc = subprocess.Popen([sys.executable, "-m", "browsercouch", "replicate", source.url + "live",
                                 "mirror", "--data", tmp_path, "--continuous", "--create-target"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=start)
        try:
            time.sleep(2)  # connected and caught up: continuous replication now waits for changes
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        source.stop()
    assert proc.returncode == 0, err
    assert ": cancelled, 1 docs read, 1 written" in out


def test_build_py_serve_says_how_to_stop():
    proc = subprocess.Popen([sys.executable, "build.py", "serve", "--native", "--port", "0", "--memory"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("browsercouch listening"):
                break
        assert any("Ctrl-C" in line for line in seen), "".join(seen)
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)
