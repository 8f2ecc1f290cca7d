"""``browsercouch install-bridge``: register the socket bridge as the browsers' native messaging host.

A browser finds a native messaging host by a JSON manifest named ``<HOST_NAME>.json`` in a per-user
directory of its own (Chromium-family browsers also in ``<user-data-dir>/NativeMessagingHosts/`` of the
profile they run with). The manifest's ``path`` must be an absolute executable with no arguments, so a
two-line wrapper script next to it runs ``python -m browsercouch.bridge`` with this very interpreter and
this very copy of browsercouch: an installed one is found by the interpreter itself; any other (a
source checkout run with ``python -m``) goes on ``PYTHONPATH``. The extension the manifest admits is the
one its fixed id names, wherever it was loaded from (``browsercouch browser``, or by hand from
``browsercouch extension-path``).
Windows keeps the manifest's location in the registry instead: not supported here.
"""

import json
import os
import shlex
import site
import sys
from pathlib import Path

from . import EXTENSION_ID, FIREFOX_EXTENSION_ID, HOST_NAME

__all__ = ["BROWSERS", "install", "manifest_dir"]

# Per-user manifest directories, relative to the home directory: (Linux, macOS).
BROWSERS = {
    "chromium": (".config/chromium/NativeMessagingHosts",
                 "Library/Application Support/Chromium/NativeMessagingHosts"),
    "chrome": (".config/google-chrome/NativeMessagingHosts",
               "Library/Application Support/Google/Chrome/NativeMessagingHosts"),
    "edge": (".config/microsoft-edge/NativeMessagingHosts",
             "Library/Application Support/Microsoft Edge/NativeMessagingHosts"),
    "brave": (".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
              "Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts"),
    "firefox": (".mozilla/native-messaging-hosts",
                "Library/Application Support/Mozilla/NativeMessagingHosts"),
}
WRAPPER = "browsercouch-bridge"
DESCRIPTION = "browsercouch socket bridge: lends the serving browser page a listening TCP socket"
# The directory this browsercouch package is imported from.
IMPORT_ROOT = Path(__file__).resolve().parents[2]


def manifest_dir(browser, user_data_dir=None, home=None, platform=sys.platform):
    """Where ``browser`` looks for the manifest (``ValueError`` where this cannot install)."""
    if browser not in BROWSERS:
        raise ValueError(f"unknown browser {browser!r} (one of {', '.join(BROWSERS)})")
    if user_data_dir is not None:
        if browser == "firefox":
            raise ValueError("Firefox reads native messaging manifests per user, not per profile: "
                             "drop --user-data-dir")
        return Path(user_data_dir).expanduser().resolve() / "NativeMessagingHosts"
    if platform.startswith("win"):
        raise ValueError("on Windows the manifest is registered in the registry: not supported yet")
    linux, macos = BROWSERS[browser]
    return Path(home or Path.home()) / (macos if platform == "darwin" else linux)


def manifest(browser, path):
    """The host manifest for ``browser``, running the executable ``path``."""
    document = {"name": HOST_NAME, "description": DESCRIPTION, "path": str(path), "type": "stdio"}
    if browser == "firefox":
        document["allowed_extensions"] = [FIREFOX_EXTENSION_ID]
    else:
        document["allowed_origins"] = [f"chrome-extension://{EXTENSION_ID}/"]
    return document


def _site_dirs():
    return {Path(path).resolve() for path in (*site.getsitepackages(), site.getusersitepackages())}


def wrapper_script(python=sys.executable, root=IMPORT_ROOT):
    """The wrapper: this interpreter, with ``root`` on its path unless it is one of its site directories."""
    lines = ["#!/bin/sh", "# Written by `browsercouch install-bridge`: runs the browsercouch socket bridge."]
    if root not in _site_dirs():
        lines.append(f"export PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}}")
    lines.append(f"exec {shlex.quote(python)} -m browsercouch.bridge \"$@\"")
    return "\n".join(lines) + "\n"


def install(browser="chromium", user_data_dir=None, home=None, platform=sys.platform):
    """Write the wrapper script and the manifest; return their paths ``(manifest, wrapper)``."""
    directory = manifest_dir(browser, user_data_dir, home, platform)
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / WRAPPER
    wrapper.write_text(wrapper_script(), encoding="utf-8")
    os.chmod(wrapper, 0o755)
    target = directory / f"{HOST_NAME}.json"
    target.write_text(json.dumps(manifest(browser, wrapper), indent=2) + "\n", encoding="utf-8")
    return target, wrapper
