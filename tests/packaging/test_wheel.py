"""``pip install browsercouch`` gives the whole thing (issue 15). ``python -m build`` makes the sdist and
the wheel as a release would; the wheel goes into a fresh virtual environment outside the checkout, with
its dependencies from the package index; and from there ``browsercouch serve``, ``web`` (the app gets
ready in headless Chromium), ``browser --headless`` (PouchDB replicates with it), ``extension-path``,
``extension-zip`` and ``install-bridge`` work, all telling the same version.

The installed commands run as console scripts, whose path starts at the environment's ``bin/``, never
at the working directory: nothing of the checkout is importable from them (a test checks).
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import chromium
import pytest
from bridge.harness import BridgeProcess
from helpers import (
    NODE_DIR,
    REPO,
    http,
    new_db,
    node_missing_reason,
    start_browser_server,
    start_browsercouch,
)

from browsercouch import __version__, bundled
from browsercouch.bridge import EXTENSION_ID, HOST_NAME

pytestmark = [pytest.mark.slow, pytest.mark.native,
              pytest.mark.skipif(bundled.missing_reason() is not None, reason=bundled.missing_reason() or "")]

# The wheel is ~6.8 MB, nearly all of it Pyodide (pyodide.asm.wasm 3.6 MB compressed, python_stdlib.zip
# 2.5 MB): anything much bigger is something shipped by mistake.
WHEEL_BUDGET = 8_000_000
# What the app's Pyodide must hold: the core, and the wheels of what it loads (no test-only wheels).
APP_DIST = {"pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"}
APP_PACKAGES = {"browsercouch", "h11"}
BUILD_TIMEOUT = 600
PIP_TIMEOUT = 600
READY_TIMEOUT = 120
READY_SCRIPT = "return document.body && document.body.dataset.ready"
NODE_TIMEOUT = 180
# peer_replicate.mjs's documents: enough for several batches of PouchDB's replicator, quick on 2 cores.
PEER_DOCS = 200
CHROMIUM_MISSING = chromium.missing_reason()
NODE_MISSING = node_missing_reason()
needs_chromium = pytest.mark.skipif(CHROMIUM_MISSING is not None, reason=CHROMIUM_MISSING or "")


@dataclass
class Install:
    wheel: Path
    sdist: Path
    venv: Path
    home: Path  # a working directory outside the checkout

    def command(self, *args, timeout=60, **options):
        """Run ``browsercouch ARGS`` from the environment, in ``home``."""
        return _run([self.venv / "bin" / "browsercouch", *args], cwd=self.home, timeout=timeout, **options)


def _run(cmd, timeout, **options):
    result = subprocess.run([str(part) for part in cmd], capture_output=True, text=True, timeout=timeout,
                            env=_clean_env(), **options)
    output = f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    assert result.returncode == 0, f"{cmd}: exit {result.returncode}\n{output}"
    return result


def _clean_env():
    """The environment without anything that would put the checkout on an interpreter's path."""
    return {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # In the checkout, as a contributor types it: build.py hands `python -m build` to the build package.
    _run([sys.executable, "-m", "build", "--outdir", out], cwd=REPO, timeout=BUILD_TIMEOUT)
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    home = tmp_path_factory.mktemp("home")
    venv = home / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=home, timeout=PIP_TIMEOUT)
    _run([venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", wheel], cwd=home,
         timeout=PIP_TIMEOUT)
    return Install(wheel, sdist, venv, home)


@pytest.fixture
def installed_command(installed, monkeypatch):
    """tests/helpers.py's server starters run the installed ``browsercouch``."""
    monkeypatch.setenv("BROWSERCOUCH_CMD", str(installed.venv / "bin" / "browsercouch"))
    for name in ("PYTHONPATH", "PYTHONHOME"):
        monkeypatch.delenv(name, raising=False)
    return installed


def _extension_id(manifest):
    """The id Chromium gives an extension: its key's sha256, first 32 hex digits mapped 0-f to a-p."""
    digest = hashlib.sha256(base64.b64decode(manifest["key"])).hexdigest()[:32]
    return "".join(chr(ord("a") + int(digit, 16)) for digit in digest)


# --- what is built ----------------------------------------------------------------------------------------

def test_the_wheel_carries_the_extension_the_app_and_pyodide(installed):
    size = installed.wheel.stat().st_size
    assert size < WHEEL_BUDGET, f"the wheel is {size / 1e6:.1f} MB"
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        lock = json.loads(wheel.read("browsercouch/extension/app/dist/pyodide-lock.json"))
    bundle = {name.removeprefix("browsercouch/extension/") for name in names
              if name.startswith("browsercouch/extension/")}
    assert {"manifest.json", "background.js", "server.html", "app/index.html", "app/couch-worker.js",
            "app/ui/dom.js"} <= bundle
    dist = {name.removeprefix("app/dist/") for name in bundle if name.startswith("app/dist/")}
    assert APP_DIST <= dist
    assert set(lock["packages"]) == APP_PACKAGES
    assert {entry["file_name"] for entry in lock["packages"].values()} <= dist
    assert not [name for name in bundle if any(part.startswith((".", "_")) for part in name.split("/"))]
    assert "browsercouch/cli.py" in names


def test_the_sdist_carries_the_bundle_and_its_backend(installed):
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"build_backend.py", "pyproject.toml", "browsercouch/extension/manifest.json",
            "browsercouch/extension/app/dist/pyodide.asm.wasm"} <= names
    assert not {"build.py", "web/build_dist.py"} & names, "a wheel built from the sdist must not rebuild"


def test_installed_outside_the_checkout(installed):
    python = installed.venv / "bin" / "python"
    where = _run([python, "-c", "import browsercouch; print(browsercouch.__file__)"], cwd=installed.home,
                 timeout=60).stdout.strip()
    assert Path(where).is_relative_to(installed.venv) and not Path(where).is_relative_to(REPO)


def test_one_version_everywhere(installed):
    assert installed.command("--version").stdout.strip() == f"browsercouch {__version__}"
    extension = Path(installed.command("extension-path").stdout.strip())
    manifest = json.loads((extension / "manifest.json").read_text())
    assert manifest.get("version_name", manifest["version"]) == __version__
    lock = json.loads((extension / "app" / "dist" / "pyodide-lock.json").read_text())
    assert lock["packages"]["browsercouch"]["version"] == __version__  # what the app's footer shows
    assert installed.wheel.name.startswith(f"browsercouch-{__version__}-")


# --- the commands, from the install -----------------------------------------------------------------------

def test_serve(installed_command):
    server = start_browsercouch()
    try:
        status, _, welcome = http("GET", server.url)
        assert status == 200 and welcome["couchdb"] == "Welcome"
        assert welcome["vendor"] == {"name": "browsercouch", "version": __version__}
        db = new_db(server.url)
        assert http("PUT", db + "/doc", {"n": 1})[0] == 201
        assert http("GET", db + "/doc")[2]["n"] == 1
    finally:
        server.stop()


@needs_chromium
@pytest.mark.chromium
def test_web_gets_ready_in_chromium(installed_command, tmp_path):
    server = start_browsercouch(command="web")
    browser = chromium.launch(tmp_path / "profile")
    try:
        browser.get(server.url + "index.html")
        deadline = time.monotonic() + READY_TIMEOUT
        while (state := browser.execute_script(READY_SCRIPT)) not in ("1", "failed"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        status = browser.execute_script("return document.querySelector('#status').textContent")
        assert state == "1", f"the app did not get ready ({state}): {status}"
        assert browser.execute_script("return document.querySelector('#version').textContent") == __version__
    finally:
        browser.quit()
        server.stop()


@needs_chromium
@pytest.mark.chromium
@pytest.mark.skipif(NODE_MISSING is not None, reason=NODE_MISSING or "")
def test_browser_serves_and_pouchdb_replicates(installed_command, tmp_path):
    server = start_browser_server(tmp_path / "profile")
    try:
        welcome = http("GET", server.url)[2]
        assert welcome["vendor"] == {"name": "browsercouch", "version": __version__}
        db = new_db(server.url, "pouchdb")
        proc = subprocess.run(["node", str(NODE_DIR / "peer_replicate.mjs"), db, "--docs", str(PEER_DOCS)],
                              cwd=NODE_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT)
        summary = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else proc.stderr
        assert proc.returncode == 0, summary
        assert http("GET", db)[2]["doc_count"] > 0
    finally:
        server.stop()
    profile_host = tmp_path / "profile" / "NativeMessagingHosts" / "browsercouch-bridge"
    assert "PYTHONPATH" not in profile_host.read_text(), "the installed bridge needs no path of its own"


def test_extension_path_and_zip(installed, tmp_path):
    extension = Path(installed.command("extension-path").stdout.strip())
    assert extension.is_relative_to(installed.venv)
    assert _extension_id(json.loads((extension / "manifest.json").read_text())) == EXTENSION_ID
    out = tmp_path / "browsercouch-extension.zip"
    assert str(out) in installed.command("extension-zip", out).stdout
    files = {path.relative_to(extension).as_posix() for path in extension.rglob("*") if path.is_file()}
    with zipfile.ZipFile(out) as archive:
        assert set(archive.namelist()) == files
        wasm = "app/dist/pyodide.asm.wasm"
        assert archive.read(wasm) == (extension / wasm).read_bytes()


def test_install_bridge_with_the_installed_copy(installed, tmp_path):
    extension = Path(installed.command("extension-path").stdout.strip())
    extension_id = _extension_id(json.loads((extension / "manifest.json").read_text()))
    installed.command("install-bridge", "--user-data-dir", tmp_path / "profile")
    directory = tmp_path / "profile" / "NativeMessagingHosts"
    manifest = json.loads((directory / f"{HOST_NAME}.json").read_text())
    assert manifest["allowed_origins"] == [f"chrome-extension://{extension_id}/"]
    wrapper = Path(manifest["path"])
    assert str(installed.venv) in wrapper.read_text() and "PYTHONPATH" not in wrapper.read_text()
    # What the browser does: run `path` with the caller's origin, from elsewhere, with a bare PATH.
    bridge = BridgeProcess(command=[str(wrapper)], cwd=tmp_path, env={"PATH": os.defpath})
    try:
        assert bridge.request({"type": "ping"})["type"] == "pong"
    finally:
        assert bridge.stop() == 0
