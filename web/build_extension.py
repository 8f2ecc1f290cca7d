"""Put the web app inside the browser extension: copy it into ``web/extension/app/``. Standard library only.

The extension (``web/extension/``) serves the same app from its own origin, so
``chrome-extension://ID/app/index.html`` runs browsercouch in the same shared worker
(``app/couch-worker.js``) that the extension's offscreen document hands the listening socket to: the
databases a user browses there are exactly the ones served to peers.

``web/extension/app/`` is build output (gitignored). It is replaced whole, through a temporary directory,
so a half-done copy never replaces a good one. ``web/dist`` must be built first (``build_dist.py``).

    python web/build_extension.py
"""

import shutil
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
EXTENSION = WEB / "extension"
APP = EXTENSION / "app"
# What the app is made of, in web/: its top-level pages, modules and styles (index.html, app.js, couch.js,
# couch-worker.js, serving.js, file-store.js, style.css, ...), and these directories whole.
APP_PATTERNS = ("*.html", "*.js", "*.css")
APP_DIRS = ("ui", "dist")
# Never copied: build stamps and caches. Chromium also refuses to load an extension with a file whose name
# starts with "_" (reserved for _locales and _metadata).
IGNORE = shutil.ignore_patterns(".*", "_*", "*.tmp")
# build.py's stamp of the Pyodide dist step.
DIST_STAMP = WEB / "dist" / ".browsercouch-build-stamp"


def app_files():
    """The app's top-level files in web/."""
    return sorted({path for pattern in APP_PATTERNS for path in WEB.glob(pattern)
                   if not path.name.startswith((".", "_"))})


def sources():
    """The files the copy depends on, relative to the repository (for a build step's stamp). For web/dist,
    build.py's stamp stands for its 16 MB: it changes whenever the dist is rebuilt."""
    paths = [*app_files(), DIST_STAMP]
    for directory in APP_DIRS:
        paths += sorted(p for p in (WEB / directory).rglob("*")
                        if directory != "dist" and p.is_file() and not p.name.startswith((".", "_")))
    return tuple(path.relative_to(WEB.parent).as_posix() for path in paths)


def build():
    """Copy the web app into ``web/extension/app/``; return that path. Raises ``RuntimeError`` when
    ``web/dist`` is not built."""
    if not (WEB / "dist" / "pyodide.mjs").exists():
        raise RuntimeError("web/dist is not built: run `python build.py` first")
    staging = EXTENSION / "app.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in app_files():
        shutil.copy2(path, staging / path.name)
    for name in APP_DIRS:
        shutil.copytree(WEB / name, staging / name, ignore=IGNORE)
    shutil.rmtree(APP, ignore_errors=True)
    staging.rename(APP)
    return APP


if __name__ == "__main__":
    try:
        print(f"build_extension: the web app is in {build().relative_to(WEB.parent)}")
    except RuntimeError as error:
        sys.exit(f"build_extension: {error}")
