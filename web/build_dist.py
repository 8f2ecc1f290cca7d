"""Build ``web/dist/``: an offline Pyodide with browsercouch, from our own files. Standard library only.

``python build.py`` runs it (the "pyodide core" and "pyodide dist" steps), and gives it its ``log`` and
``run``.

``dist/`` gets:

- the Pyodide core from the npm package pinned in ``web/package.json`` (``npm ci`` into
  ``web/node_modules``): ``pyodide.mjs``, ``pyodide.js``, ``pyodide.asm.mjs``, ``pyodide.asm.wasm``,
  ``python_stdlib.zip``;
- the pure-Python wheels in ``WHEELS``, pinned, downloaded from PyPI with ``PYTHON -m pip download``
  (the npm package ships no wheels, see DESIGN.md section 4);
- our own wheel: the Python code alone (``-C bundle=omit``, see ``build_backend.py``), built from a copy
  of it so that the browser half a checkout holds in ``browsercouch/extension/`` never goes in;
- ``pyodide-lock.json``: npm's lock rewritten to list exactly the shipped wheels. Every other entry is
  dropped, so ``loadPackage`` never falls back to a CDN: a missing package is an error, not a download.

Then ``loadPyodide({indexURL: dist})`` + ``loadPackage(["browsercouch"])`` work with no network.
"""

import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path

WEB = Path(__file__).resolve().parent
ROOT = WEB.parent
DIST = WEB / "dist"
NPM_PYODIDE = WEB / "node_modules" / "pyodide"
CORE_FILES = ("pyodide.mjs", "pyodide.js", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
# The Python inside the pinned Pyodide (its lock's info.python is 3.14.x).
PYODIDE_PYTHON = "3.14"

# name -> (version, depends inside Pyodide, import names). Depends are the wheel's Requires-Dist evaluated
# for Python 3.14 on emscripten, written out so this script needs no marker evaluator.
WHEELS = {
    "h11": ("0.16.0", (), ("h11",)),
    # For the in-Pyodide test run (tests/pyodide). pytest 9.0.2 is the version Pyodide's own lock names.
    "pytest": ("9.0.2", ("iniconfig", "packaging", "pluggy", "pygments"), ("_pytest", "pytest")),
    "iniconfig": ("2.3.0", (), ("iniconfig",)),
    "packaging": ("26.1", (), ("packaging",)),
    "pluggy": ("1.6.0", (), ("pluggy",)),
    "pygments": ("2.20.0", (), ("pygments",)),
    "hypothesis": ("6.155.7", ("sortedcontainers",), ("hypothesis",)),
    "sortedcontainers": ("2.4.0", (), ("sortedcontainers",)),
}
# Our native-only dependencies (the bridge's websockets...) are marked sys_platform != 'emscripten'.
OWN = ("browsercouch", ("h11",), ("browsercouch",))

# build.py's ``log(message)`` and ``run(*cmd, cwd=...)``, set when it loads this script (``web_script``).
log = run = None


def install_npm_core():
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH")
    run(npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", cwd=WEB)


def download_wheels(python, dest):
    pins = [f"{name}=={version}" for name, (version, _, _) in WHEELS.items()]
    run(python, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
        "--only-binary=:all:", "--python-version", PYODIDE_PYTHON, "--implementation", "py",
        "--abi", "none", "--platform", "any", "-d", dest, *pins)


# What the Python code's wheel is built from (the package's .py files and PACKAGE_DATA are added).
PACKAGING_FILES = ("pyproject.toml", "build_backend.py", "README.md")
# pyproject.toml's package data but the bundle (which the tab is loaded from): the query server's
# JavaScript, which the tab's QuickJS runs.
PACKAGE_DATA = ("store/couchjs/*.js",)


def package_files():
    """The package's files our wheel for Pyodide carries: its modules and ``PACKAGE_DATA``."""
    package = ROOT / "browsercouch"
    data = [path for pattern in PACKAGE_DATA for path in package.glob(pattern)]
    return sorted([*package.rglob("*.py"), *data])


def build_own_wheel(python, dest):
    """Our wheel for Pyodide: the package's modules, the data they read, and metadata."""
    source = dest / "browsercouch-source"
    for path in [ROOT / name for name in PACKAGING_FILES] + package_files():
        target = source / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    try:
        run(python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--config-settings", "bundle=omit", "-w", dest, source)
    finally:
        shutil.rmtree(source)


def wheel_version(path):
    return path.name.split("-")[1]


def find_wheel(dest, name):
    prefix = name.replace("-", "_").lower() + "-"
    matches = [path for path in dest.glob("*.whl") if path.name.lower().startswith(prefix)]
    if len(matches) != 1:
        raise RuntimeError(f"expected one wheel for {name} in {dest}, found {[p.name for p in matches]}")
    return matches[0]


def lock_entry(base, name, wheel, depends, imports):
    entry = dict(base or {})
    entry.update({
        "name": entry.get("name", name), "version": wheel_version(wheel), "file_name": wheel.name,
        "install_dir": "site", "package_type": "package",
        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "depends": list(depends), "imports": list(imports),
    })
    entry.setdefault("tool", {})
    entry.setdefault("unvendored_tests", False)
    return entry


def write_lock(dest):
    """npm's lock, pruned to the wheels in ``dest``, each entry matching the file we ship."""
    lock = json.loads((NPM_PYODIDE / "pyodide-lock.json").read_text())
    original = lock["packages"]
    packages = {}
    for name, (_, depends, imports) in {**WHEELS, OWN[0]: (None, *OWN[1:])}.items():
        wheel = find_wheel(dest, name)
        packages[name] = lock_entry(original.get(name), name, wheel, depends, imports)
    missing = {dep for entry in packages.values() for dep in entry["depends"]} - packages.keys()
    if missing:
        raise RuntimeError(f"lock entries depend on packages not shipped: {sorted(missing)}")
    lock["packages"] = packages
    (dest / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    log(f"pyodide-lock.json: {len(packages)} packages (npm's lock listed {len(original)})")


def check_wheels(dest):
    for wheel in dest.glob("*.whl"):
        if not wheel.name.endswith("-none-any.whl"):
            raise RuntimeError(f"not a pure wheel: {wheel.name}")
        with zipfile.ZipFile(wheel) as archive:
            archive.testzip()


def build(python=sys.executable):
    """Build web/dist from the npm core (``install_npm_core`` first) and PyPI's wheels."""
    staging = WEB / "dist.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in CORE_FILES:
        shutil.copy2(NPM_PYODIDE / name, staging / name)
    download_wheels(python, staging)
    build_own_wheel(python, staging)
    check_wheels(staging)
    write_lock(staging)
    shutil.rmtree(DIST, ignore_errors=True)
    staging.rename(DIST)
    log(f"built {DIST}")

