"""The npm PouchDB client (Node) replicates 1,000 docs with the server and back, one-shot and live.

``tests/node/replicate_roundtrip.mjs`` does the work and the comparison (see its header); this wrapper runs
it against browsercouch and against pouchdb-server 4.2.0, the reference that proves the harness itself.
"""

import json
import subprocess

import pytest
from helpers import NODE_DIR, server_output

SCRIPT = NODE_DIR / "replicate_roundtrip.mjs"
DOCS = 1000
# The script gives up after 240 s on its own; this is the backstop.
TIMEOUT = 300


def run_roundtrip(base_url, docs=DOCS):
    """Run the script; return ``(exit code, summary dict)``. The summary is its last stdout line."""
    proc = subprocess.run(["node", str(SCRIPT), base_url, "--docs", str(docs)], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=TIMEOUT)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no summary from {SCRIPT.name} (exit {proc.returncode}):\n{proc.stderr[-5000:]}"
    return proc.returncode, json.loads(lines[-1])


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.parametrize("server", [
    pytest.param("browsercouch_server", id="browsercouch"),
    pytest.param("pouchdb_server", id="pouchdb-server"),
])
def test_pouchdb_replication_roundtrip(server, request):
    base_url = request.getfixturevalue(server)
    code, summary = run_roundtrip(base_url)
    report = json.dumps(summary, indent=1)[:20_000] + "\n--- server output ---\n" + server_output(base_url)
    assert code == 0 and summary["ok"], report
    counts = summary["counts"]
    # Guard against a vacuous pass (e.g. two empty sides compare equal): the data really moved.
    assert counts["pulled"] >= DOCS, report
    assert counts["docs"] == DOCS + 20 + 50 + 20, report
    assert counts["deleted"] == DOCS // 25, report
    assert counts["conflicted"] == DOCS // 50, report
    assert counts["with_attachments"] > DOCS // 10, report
    assert counts["control_mismatches"] >= 3, report
