"""``browsercouch install-bridge`` and ``browsercouch bridge``: the manifest lands where the browser looks,
and the executable it names runs the bridge."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from browsercouch.bridge import EXTENSION_ID, FIREFOX_EXTENSION_ID, HOST_NAME
from browsercouch.bridge.install import BROWSERS, manifest_dir

from .harness import BridgeProcess

pytestmark = pytest.mark.native


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "browsercouch", *args], capture_output=True, text=True,
                          timeout=30, env=env)


@pytest.mark.parametrize("browser", sorted(BROWSERS))
def test_the_per_user_directories(browser):
    linux = manifest_dir(browser, home="/home/u", platform="linux")
    macos = manifest_dir(browser, home="/Users/u", platform="darwin")
    assert str(linux).startswith("/home/u/.")
    assert str(macos).startswith("/Users/u/Library/Application Support/")
    assert linux.name in ("NativeMessagingHosts", "native-messaging-hosts")


def test_what_cannot_be_installed():
    with pytest.raises(ValueError, match="per user"):
        manifest_dir("firefox", user_data_dir="/tmp/profile")
    with pytest.raises(ValueError, match="registry"):
        manifest_dir("chrome", platform="win32")
    with pytest.raises(ValueError, match="unknown browser"):
        manifest_dir("netscape")


def test_install_into_a_chromium_profile_and_run_the_wrapper(tmp_path):
    result = _cli("install-bridge", "--user-data-dir", str(tmp_path / "profile"))
    assert result.returncode == 0, result.stderr
    directory = tmp_path / "profile" / "NativeMessagingHosts"
    manifest = json.loads((directory / f"{HOST_NAME}.json").read_text())
    assert manifest == {"name": HOST_NAME, "description": manifest["description"], "type": "stdio",
                        "path": str(directory / "browsercouch-bridge"),
                        "allowed_origins": [f"chrome-extension://{EXTENSION_ID}/"]}
    assert str(directory / f"{HOST_NAME}.json") in result.stdout
    wrapper = Path(manifest["path"])
    assert wrapper.is_absolute() and wrapper.stat().st_mode & 0o777 == 0o755
    assert wrapper.read_text().startswith("#!/bin/sh\n")
    # What Chrome does: run `path` with the caller's origin, from another directory.
    bridge = BridgeProcess(command=[str(wrapper)], cwd=tmp_path, env={"PATH": os.defpath})
    try:
        assert bridge.request({"type": "ping"})["type"] == "pong"
    finally:
        assert bridge.stop() == 0


def test_install_for_firefox(tmp_path):
    result = _cli("install-bridge", "--browser", "firefox", env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    path = tmp_path / ".mozilla" / "native-messaging-hosts" / f"{HOST_NAME}.json"
    manifest = json.loads(path.read_text())
    assert manifest["allowed_extensions"] == [FIREFOX_EXTENSION_ID] and "allowed_origins" not in manifest
    assert os.stat(manifest["path"]).st_mode & stat.S_IXUSR
    assert _cli("install-bridge", "--browser", "firefox", "--user-data-dir", str(tmp_path)).returncode != 0


def test_the_bridge_command_runs_the_host():
    bridge = BridgeProcess(command=[sys.executable, "-m", "browsercouch", "bridge"])
    try:
        assert bridge.request({"type": "ping"})["type"] == "pong"
    finally:
        assert bridge.stop() == 0
