"""``browsercouch replicate`` and ``browsercouch sync``: the command line, run as a subprocess against
``browsercouch serve`` subprocesses on 127.0.0.1."""

import io
import json
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO, http

from browsercouch.cli import _Progress
from browsercouch.replicator import Replication
from browsercouch.store import Couch

from .peers import seed

CLI_TIMEOUT = 60


def cli(*args):
    return subprocess.run([sys.executable, "-m", "browsercouch", *map(str, args)], cwd=REPO, text=True,
                          capture_output=True, timeout=CLI_TIMEOUT)


@pytest.fixture
def data(tmp_path):
    couch = Couch(tmp_path)
    seed(couch.create_db("local"), 150)
    couch.close()
    return tmp_path


def docs_of(db_url):
    status, _, body = http("GET", db_url + "/_all_docs")
    assert status == 200, body
    return {row["id"]: row["value"]["rev"] for row in body["rows"]}


def test_replicate_a_local_database_to_a_server_and_back(data, browsercouch_factory):
    server = browsercouch_factory("--admin", "adm:s3cret")
    url = server.url.replace("http://", "http://adm:s3cret@") + "remote"
    done = cli("replicate", "local", url, "--data", data, "--create-target")
    assert done.returncode == 0, done.stderr
    masked = server.url.replace("http://", "http://adm:*****@") + "remote"
    assert done.stdout.startswith(f"local database local -> {masked}: completed, ")
    assert "s3cret" not in done.stdout + done.stderr
    local = Couch(data)
    expected = dict(local.get_db("local").all_docs())
    local.close()
    assert docs_of(url) == expected
    back = cli("replicate", url, "copy", "--data", data, "--create-target", "--json")
    assert back.returncode == 0, back.stderr
    record = json.loads(back.stdout)
    assert record["ok"] is True and record["history"][0]["docs_written"] > 150
    again = json.loads(cli("replicate", url, "copy", "--data", data, "--json").stdout)
    assert again["no_changes"] is True


def test_sync_runs_both_ways(data, browsercouch_factory):
    server = browsercouch_factory()
    url = server.url + "remote"
    assert cli("replicate", "local", url, "--data", data, "--create-target").returncode == 0
    http("PUT", url + "/from-server", {"side": "server"})
    couch = Couch(data)
    couch.get_db("local").put({"_id": "from-local"})
    couch.close()
    done = cli("sync", "local", url, "--data", data, "--json")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert records["push"]["history"][0]["docs_written"] == 1 == records["pull"]["history"][0]["docs_written"]
    couch = Couch(data)
    assert couch.get_db("local").get("from-server")["side"] == "server"
    couch.close()
    assert "from-local" in docs_of(url)


def test_selection_options(data, browsercouch_factory):
    server = browsercouch_factory()
    done = cli("replicate", "local", server.url + "some", "--data", data, "--create-target",
               "--doc-ids", "doc-00003,doc-00004")
    assert done.returncode == 0, done.stderr
    assert set(docs_of(server.url + "some")) == {"doc-00003", "doc-00004"}
    done = cli("replicate", "local", server.url + "sel", "--data", data, "--create-target",
               "--selector", '{"n": {"$lt": 3}}')
    assert done.returncode == 0, done.stderr
    assert set(docs_of(server.url + "sel")) == {"doc-00001", "doc-00002"}


@pytest.mark.native
@pytest.mark.parametrize("args, message", [
    (["local", "http://127.0.0.1:9/x"], "is not an http(s) URL, and there are no local databases here"),
    (["local", "other", "--data", "{data}", "--selector", "[1]"], "--selector must be a JSON object"),
    (["local", "other", "--data", "{data}", "--selector", "{"], "--selector is not valid JSON"),
    (["local", "other", "--data", "{data}", "--doc-ids", "a", "--filter", "d/f"], "use only one of"),
    (["local", "other", "--data", "{data}"], "(the target does not exist; --create-target creates it)"),
    (["nope", "other", "--data", "{data}"], "source local database nope: 404 not_found"),
])
def test_mistakes_get_a_clear_message(data, args, message):
    done = cli("replicate", *[a.replace("{data}", str(data)) for a in args])
    assert done.returncode != 0
    assert message in done.stderr


def test_wrong_credentials_fail_at_once_without_showing_the_password(data, browsercouch_factory):
    server = browsercouch_factory("--admin", "adm:right")
    url = server.url.replace("http://", "http://adm:wrong-one@") + "remote"
    started = time.monotonic()
    done = cli("replicate", "local", url, "--data", data, "--create-target")
    assert done.returncode == 1 and time.monotonic() - started < 20
    assert "refused access (401 unauthorized" in done.stderr
    assert "wrong-one" not in done.stdout + done.stderr


def test_continuous_until_interrupted(data, browsercouch_factory):
    server = browsercouch_factory()
    url = server.url + "live"
    # SIGINT as Ctrl-C sends it, whatever this test inherited (a shell's background job ignores it).
    proc = subprocess.Popen([sys.executable, "-m", "browsercouch", "replicate", url, "mirror", "--data", data,
                             "--continuous", "--create-target"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        http("PUT", url)
        http("PUT", url + "/one", {"n": 1})
        deadline = time.monotonic() + CLI_TIMEOUT
        while not _replicated(data, "one"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert ": cancelled, 1 docs read, 1 written, 0 failed" in out


def _replicated(data, doc_id):
    """Whether ``doc_id`` reached the CLI's local database (read through SQLite, which allows it)."""
    couch = Couch(data)
    try:
        return couch.exists("mirror") and any(d == doc_id for d, _ in couch.get_db("mirror").all_docs())
    finally:
        couch.close()


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_line():
    job = Replication(_Named("a"), _Named("b"))
    job.stats.docs_read, job.stats.docs_written, job.stats.changes_pending = 30, 25, 90
    out = FakeTTY()
    progress = _Progress([job], out)
    progress.update(force=True)
    progress.finish()
    assert out.getvalue().endswith("[######------------------] read 30 written 25 pending 90\n")
    assert out.getvalue().startswith("\r\x1b[K")


class _Named:
    def __init__(self, name):
        self.name = name
