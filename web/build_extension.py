"""Build the browser half that ships inside the package: ``browsercouch/extension/``. Standard library only.

It is the browsercouch extension, unpacked (``browsercouch/bundled.py`` finds it through
``importlib.resources``), made of:

- the extension's own files from ``web/extension/`` (service worker, offscreen server page, popup, start
  page), and its ``manifest.json`` with ``version`` set from ``browsercouch.__version__``, the one place
  the version is written;
- ``app/constants.js``: the values the JavaScript shares with the Python (the default port, the native
  host's name, the extension id, the PBKDF2 cost), read from the Python source that defines them
  (``SHARED_CONSTANTS``), so each is written once; the app imports ``./constants.js``, the extension's
  own pages ``./app/constants.js``;
- ``app/``: the web app (``web/``'s pages, modules, styles and ``ui/``), which the extension serves from
  its own origin, so ``chrome-extension://ID/app/index.html`` runs browsercouch in the same shared worker
  (``app/couch-worker.js``) that the extension's offscreen document hands the listening socket to: the
  databases a user browses there are exactly the ones served to peers. ``browsercouch web`` serves this
  same ``app/`` over HTTP;
- ``app/vendor/qrcode.mjs``: the QR code generator the WebRTC pairing shows its codes with, npm's
  ``qrcode-generator`` (MIT; the notice is in the file), installed with the Pyodide core from
  ``web/package.json``;
- ``app/vendor/quickjs/``: QuickJS compiled to WebAssembly, the engine design functions run in
  (``quickjs-engine.js``): npm's ``quickjs-emscripten-core`` and its synchronous release build
  ``@jitl/quickjs-wasmfile-release-sync`` (MIT, their LICENSE files beside them). Their ES modules import
  each other by package name, which a module worker cannot resolve (no import maps there), so those
  imports are rewritten to relative paths (``QUICKJS_IMPORTS``);
- ``app/dist/``: ``web/dist`` (``build_dist.py``, built first) cut down to what the app loads:
  ``loadPackage(["browsercouch"])`` and its dependencies in the lock, so none of the test-only wheels.

The directory is replaced whole, through a temporary one, so a half-done copy never replaces a good one.

    python web/build_extension.py
"""

import ast
import json
import re
import shutil
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
ROOT = WEB.parent
SOURCE = WEB / "extension"
BUNDLE = ROOT / "browsercouch" / "extension"
DIST = WEB / "dist"
VERSION_FILE = ROOT / "browsercouch" / "__init__.py"
# The extension's own files in web/extension/, and the app's top-level pages, modules and styles in web/
# (index.html, app.js, couch.js, couch-worker.js, serving.js, file-store.js, style.css, ...).
FILE_PATTERNS = ("*.html", "*.js", "*.css")
APP_DIRS = ("ui",)
# What the app loads (web/couch-worker.js); the dist keeps it and what it depends on.
APP_PACKAGES = ("browsercouch",)
# npm modules the app imports, installed in web/node_modules: (module file, name in app/vendor/).
VENDOR = ((WEB / "node_modules" / "qrcode-generator" / "dist" / "qrcode.mjs", "qrcode.mjs"),)
# QuickJS's npm packages: (package, the files the app loads, folder in app/vendor/quickjs/). The browser
# build of the Emscripten module; the rest of the core's chunks are imported by its index.mjs.
QUICKJS = (
    ("quickjs-emscripten-core", ("dist/*.mjs", "LICENSE"), "core"),
    ("@jitl/quickjs-ffi-types", ("dist/index.mjs", "LICENSE"), "ffi-types"),
    ("@jitl/quickjs-wasmfile-release-sync",
     ("dist/index.mjs", "dist/ffi.mjs", "dist/emscripten-module.browser.mjs", "dist/emscripten-module.wasm",
      "LICENSE"), "release-sync"),
)
# Each package-name import in those modules, and the vendored file it means.
QUICKJS_IMPORTS = {
    "@jitl/quickjs-ffi-types": "ffi-types/index.mjs",
    "@jitl/quickjs-wasmfile-release-sync/emscripten-module": "release-sync/emscripten-module.browser.mjs",
}
# An import of a module by its specifier (static, dynamic or re-export), and a source map comment.
IMPORT_SPECIFIER = re.compile(r'((?:\bfrom|\bimport)\s*\(?\s*)"([^"]+)"')
SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S*\s*$")
# build.py's stamp of the Pyodide dist step: it changes whenever the dist is rebuilt.
DIST_STAMP = DIST / ".browsercouch-build-stamp"
# The JavaScript's name for each value it shares with the Python, and where the Python defines it.
SHARED_CONSTANTS = {
    "DEFAULT_PORT": ("browsercouch/cli.py", "DEFAULT_BROWSER_PORT"),
    "HOST_NAME": ("browsercouch/bridge/__init__.py", "HOST_NAME"),
    "EXTENSION_ID": ("browsercouch/bridge/__init__.py", "EXTENSION_ID"),
    "PBKDF2_ITERATIONS": ("browsercouch/api/auth.py", "PBKDF2_ITERATIONS"),
}
# Chrome's manifest version: one to four dot-separated integers; anything after them goes in version_name.
MANIFEST_VERSION = re.compile(r"\d+(\.\d+){0,3}")


def _files(directory):
    """A directory's top-level files of the kinds above. Never a name starting with "." or "_" (build
    stamps, caches; Chromium refuses to load an extension with a file named "_*" outside _locales)."""
    return sorted({path for pattern in FILE_PATTERNS for path in directory.glob(pattern)
                   if not path.name.startswith((".", "_"))})


def sources():
    """The files the bundle depends on, relative to the repository (for a build step's stamp). For
    web/dist, build.py's stamp stands for its 16 MB."""
    paths = [*_files(SOURCE), SOURCE / "manifest.json", *_files(WEB), VERSION_FILE, DIST_STAMP,
             WEB / "package.json", WEB / "package-lock.json",
             *sorted({ROOT / path for path, _ in SHARED_CONSTANTS.values()})]
    for directory in APP_DIRS:
        paths += sorted(path for path in (WEB / directory).rglob("*")
                        if path.is_file() and not path.name.startswith((".", "_")))
    return tuple(path.relative_to(ROOT).as_posix() for path in paths)


def package_version():
    """``browsercouch.__version__``, read from its source line."""
    found = re.search(r'^__version__ = "([^"]+)"$', VERSION_FILE.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no __version__ = \"...\" line in {VERSION_FILE}")
    return found.group(1)


def python_constant(path, name):
    """The literal value of the module-level ``name = ...`` in the Python file ``path``."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = [getattr(target, "id", None) for target in getattr(node, "targets", ())]
        if isinstance(node, ast.Assign) and name in names:
            return ast.literal_eval(node.value)
    raise RuntimeError(f"no {name} = ... in {path}")


def constants_js():
    """``app/constants.js``: an ES module exporting ``SHARED_CONSTANTS``' values."""
    lines = ["// Written by web/build_extension.py from the Python defining each value: edit it there.", ""]
    for js_name, (path, py_name) in SHARED_CONSTANTS.items():
        value = json.dumps(python_constant(ROOT / path, py_name))
        lines.append(f"export const {js_name} = {value}; // {path}: {py_name}")
    return "\n".join(lines) + "\n"


def manifest(version):
    """web/extension/manifest.json with ``version`` (and ``version_name`` when Chrome's format cannot
    hold the whole of ``version``)."""
    document = json.loads((SOURCE / "manifest.json").read_text(encoding="utf-8"))
    numeric = MANIFEST_VERSION.match(version)
    if numeric is None:
        raise RuntimeError(f"version {version!r} does not start with a number")
    document["version"] = numeric.group()
    if numeric.group() != version:
        document["version_name"] = version
    return document


def needed_packages(packages, wanted):
    """``wanted`` and everything they depend on in a Pyodide lock's ``packages``."""
    needed, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += packages[name]["depends"]
    return needed


def copy_dist(dest):
    """web/dist into ``dest``: the Pyodide core, and the wheels and lock entries of ``APP_PACKAGES``."""
    if not (DIST / "pyodide.mjs").exists():
        raise RuntimeError("web/dist is not built: run `python build.py` first")
    lock = json.loads((DIST / "pyodide-lock.json").read_text(encoding="utf-8"))
    keep = needed_packages(lock["packages"], APP_PACKAGES)
    lock["packages"] = {name: entry for name, entry in lock["packages"].items() if name in keep}
    dest.mkdir()
    for path in DIST.iterdir():
        if not path.name.startswith(".") and path.suffix != ".whl" and path.name != "pyodide-lock.json":
            shutil.copy2(path, dest / path.name)
    for entry in lock["packages"].values():
        shutil.copy2(DIST / entry["file_name"], dest / entry["file_name"])
    text = json.dumps(lock, indent=1, sort_keys=True) + "\n"
    (dest / "pyodide-lock.json").write_text(text, encoding="utf-8")


def _relative_imports(text):
    """A vendored module's text with package-name imports made relative (every module sits one folder
    down in vendor/quickjs/) and its source map comment dropped (the maps are not shipped).
    ``RuntimeError`` on an import that is neither relative nor known."""
    def relative(match):
        specifier = match.group(2)
        if specifier.startswith("./"):
            return match.group(0)
        if specifier not in QUICKJS_IMPORTS:
            raise RuntimeError(f"vendored QuickJS imports {specifier!r}: add it to QUICKJS_IMPORTS")
        return f'{match.group(1)}"../{QUICKJS_IMPORTS[specifier]}"'
    return SOURCE_MAP.sub("\n", IMPORT_SPECIFIER.sub(relative, text))


def copy_quickjs(dest):
    """QuickJS's npm packages into ``dest`` (app/vendor/quickjs/), imports rewritten."""
    for package, patterns, folder in QUICKJS:
        source = WEB / "node_modules" / package
        if not source.exists():
            raise RuntimeError(f"web/node_modules/{package} is missing: run `python build.py` first")
        (dest / folder).mkdir(parents=True)
        for path in sorted({path for pattern in patterns for path in source.glob(pattern)}):
            if path.suffix == ".mjs":
                text = _relative_imports(path.read_text(encoding="utf-8"))
                (dest / folder / path.name).write_text(text, encoding="utf-8")
            else:
                shutil.copy2(path, dest / folder / path.name)


def build():
    """Build ``browsercouch/extension/``; return that path. ``RuntimeError`` when web/dist is not built."""
    staging = BUNDLE.with_name("extension.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "app").mkdir(parents=True)
    for path in _files(SOURCE):
        shutil.copy2(path, staging / path.name)
    document = manifest(package_version())
    (staging / "manifest.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    for path in _files(WEB):
        shutil.copy2(path, staging / "app" / path.name)
    (staging / "app" / "constants.js").write_text(constants_js(), encoding="utf-8")
    for name in APP_DIRS:
        shutil.copytree(WEB / name, staging / "app" / name, ignore=shutil.ignore_patterns(".*", "_*"))
    (staging / "app" / "vendor").mkdir()
    for path, name in VENDOR:
        if not path.exists():
            raise RuntimeError(f"{path.relative_to(ROOT)} is missing: run `python build.py` first")
        shutil.copy2(path, staging / "app" / "vendor" / name)
    copy_quickjs(staging / "app" / "vendor" / "quickjs")
    copy_dist(staging / "app" / "dist")
    shutil.rmtree(BUNDLE, ignore_errors=True)
    staging.rename(BUNDLE)
    return BUNDLE


if __name__ == "__main__":
    try:
        print(f"build_extension: the extension and its web app are in {build().relative_to(ROOT)}")
    except RuntimeError as error:
        sys.exit(f"build_extension: {error}")
