"""Fixtures: one native server and one serving tab for the whole run (each check is a request or two)."""

import subprocess
import sys

import chromium
import pytest
from helpers import REPO, free_port, start_browsercouch

from browsercouch import bundled

from .tab import Tab


@pytest.fixture(scope="session")
def native():
    """``browsercouch serve --memory`` on 127.0.0.1 at info level (the request log on stderr)."""
    server = start_browsercouch("--log-level", "info")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tab(tmp_path_factory):
    """Headless Chromium whose extension serves on a loopback port; ``Tab`` (``port``, ``status()``)."""
    reason = chromium.missing_reason() or bundled.missing_reason()
    if reason:
        pytest.skip(reason)
    profile = tmp_path_factory.mktemp("tab") / "profile"
    subprocess.run([sys.executable, "-m", "browsercouch", "install-bridge", "--user-data-dir", str(profile)],
                   check=True, cwd=REPO, capture_output=True)
    opened = Tab(profile).open()
    try:
        opened.serve(free_port())
        yield opened
    finally:
        opened.quit()
