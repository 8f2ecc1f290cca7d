"""The browser half that ships inside the package: the browsercouch extension, unpacked, in ``extension/``.

It carries the web app in ``extension/app/`` and the app's offline Pyodide in ``extension/app/dist/``, so
one copy serves three commands: ``browsercouch web`` serves ``app/`` over HTTP, ``browsercouch browser``
loads the extension into Chromium, and ``extension-path`` / ``extension-zip`` hand it to a user who loads
it by hand into Chrome, Edge or Brave.

It is found through ``importlib.resources``, so it is wherever this package is: in site-packages for a
wheel, in the package directory of a source checkout, where ``python build.py`` builds it
(``web/build_extension.py``). Wheels install as files, so it is a real directory that Chromium can load.
"""

import zipfile
from importlib import resources
from pathlib import Path

__all__ = ["EXTENSION_DIR", "WEB_APP_DIR", "missing_reason", "write_extension_zip"]

EXTENSION_DIR = Path(str(resources.files(__package__).joinpath("extension")))
WEB_APP_DIR = EXTENSION_DIR / "app"


def missing_reason(extension_dir=EXTENSION_DIR):
    """Why the extension and its web app are not in ``extension_dir``, or ``None`` when they are."""
    if all((extension_dir / name).is_file() for name in ("manifest.json", "app/dist/pyodide.mjs")):
        return None
    return (f"the web app and the browser extension are not built ({extension_dir} is missing): in a source "
            "checkout run `python build.py`; a package built with `-C bundle=omit` has none")


def _files(directory):
    """The files under ``directory``, as names relative to it, but no hidden ones (build stamps)."""
    names = (path.relative_to(directory) for path in directory.rglob("*") if path.is_file())
    return sorted(name for name in names if not any(part.startswith(".") for part in name.parts))


def write_extension_zip(out, extension_dir=EXTENSION_DIR):
    """Write the unpacked extension to the zip file ``out``, ``manifest.json`` at its top (what "Load
    unpacked" wants once extracted, and what an extension store takes); return the number of files."""
    names = _files(extension_dir)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(extension_dir / name, name.as_posix())
    return len(names)
