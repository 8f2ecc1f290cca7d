#!/usr/bin/env python3
"""Set up, test, serve and benchmark browsercouch: the one entry point. Standard library only.

    python build.py                  set up only
    python build.py test [ARGS]      set up, then ruff, eslint and pytest ARGS (exit non-zero on any failure)
    python build.py serve [ARGS]     set up what serving needs, then serve: `browsercouch browser ARGS`
                                     (Chromium with the extension is the server) when Chromium is
                                     installed, else the native `browsercouch serve ARGS`;
                                     `serve --native [ARGS]` forces the native server
    python build.py bundle           set up only the browser half that ships in the package
                                     (browsercouch/extension/: the extension, the web app and its
                                     Pyodide); the build backend (build_backend.py) runs it first
    python -m build [ARGS]           not this file: the PyPA build package's sdist and wheel (this file
                                     hands over to it; `python build.py` installs it in .venv)
    python build.py bench [NAME [ARGS]]
                                     set up, then the benchmarks: bench/bench_server.py and
                                     bench/bench_replicate.py (against pouchdb-server and, where
                                     ../shared/couchdb is, Apache CouchDB 3.4.3), bench/bench_queries.py
                                     (_find with and without indexes, beside CouchDB), bench/bench_web.py
                                     (headless Chromium), bench/bench_extension.py (the extension
                                     shell vs the native server), bench/bench_peers.py (browser to
                                     browser pulls) and bench/bench_soak.py (15 minutes of writes
                                     through the extension), or only bench/bench_NAME.py ARGS

Set-up is the table ``STEPS``. A step names the files its result depends on and where it keeps its stamp
(a hash of those files); it runs only when the stamp is missing or stale. Stamps live inside what the step
produces, so deleting ``.venv`` or ``node_modules`` re-runs the step that made it. Add a step by adding a
row. Long steps show the tools' own progress (pip, npm); each step says how long it took.
"""

import hashlib
import importlib.util
import os
import runpy
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
NODE_DIR = ROOT / "tests" / "node"
WEB_DIST = ROOT / "web" / "dist"
# The browser half that ships in the package (browsercouch/bundled.py).
BUNDLE = ROOT / "browsercouch" / "extension"
STAMP_NAME = ".browsercouch-build-stamp"
LINT_PATHS = ("browsercouch", "tests", "bench", "web", "build.py", "build_backend.py")
# Where our JavaScript is (the extension's sources are in web/extension; the bundle is built output).
JS_LINT_PATHS = ("web", "tests", "bench")


class BuildError(Exception):
    """A set-up step cannot run here (a missing tool, a failed command)."""


def log(message):
    print(f"build.py: {message}", flush=True)


def run(*cmd, cwd=ROOT):
    """Run a command, echoing it; raise ``BuildError`` when it fails."""
    log("$ " + " ".join(str(part) for part in cmd))
    if subprocess.run([str(part) for part in cmd], cwd=cwd).returncode != 0:
        raise BuildError(f"command failed: {cmd[0]}")


def need(tool):
    path = shutil.which(tool)
    if path is None:
        raise BuildError(f"{tool} is not on PATH")
    return path


# --- steps ------------------------------------------------------------------------------------------------

def make_venv():
    run(sys.executable, "-m", "venv", VENV)


def pip_install(*requirements):
    # Not --quiet: on a fresh machine this is the longest wait, and pip's lines show it moving.
    run(VENV_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", *requirements)


def install_python_deps():
    # The package alone, editable: all that serving needs.
    pip_install("-e", ".")


def install_test_deps():
    # The test extras on top, named here rather than as `-e .[test]`, which would build the package again.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pip_install(*project["optional-dependencies"]["test"])


def install_node_deps():
    # --ignore-scripts: nothing we use needs an install script (leveldown loads the prebuilt binary it
    # ships), and some (sqlite3's node-pre-gyp) would try to download binaries from GitHub.
    mode = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
    run(need("npm"), mode, "--ignore-scripts", "--no-audit", "--no-fund", cwd=NODE_DIR)


def install_chromium():
    # Debian's chromium and chromium-driver: the browser tests never download a browser of their own.
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    apt = [need("apt-get"), "install", "-y", "-q", "chromium", "chromium-driver"]
    if os.geteuid() != 0:
        apt.insert(0, need("sudo"))
    run(*apt)


def web_script(name):
    """One of web/'s build scripts (web/NAME.py), as a module that logs and runs commands with this file's
    ``log`` and ``run``; its ``RuntimeError``s become ``BuildError``s where ``run_web_script`` calls it."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "web" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.log, module.run = log, run
    return module


def run_web_script(name, function, *args):
    try:
        getattr(web_script(name), function)(*args)
    except RuntimeError as error:
        raise BuildError(str(error)) from error


def install_pyodide_core():
    # The npm package pyodide, pinned in web/package.json: kept until that changes, not fetched per dist.
    need("npm")
    run_web_script("build_dist", "install_npm_core")


def build_pyodide_dist():
    # web/build_dist.py: the Pyodide core from npm, pinned pure wheels from PyPI, our wheel, a pruned lock.
    run_web_script("build_dist", "build", str(VENV_PYTHON))


def build_bundle():
    # web/build_extension.py: the extension, the web app and its part of web/dist, in browsercouch/extension/.
    run_web_script("build_extension", "build")


def bundle_sources():
    """What the bundle is made of (web/dist by its build stamp, not its 16 MB)."""
    return ("web/build_extension.py", *web_script("build_extension").sources())


def package_sources():
    """The files our wheel is built from: the dist is rebuilt when one changes."""
    return tuple(path.relative_to(ROOT).as_posix() for path in web_script("build_dist").package_files())


@dataclass(frozen=True)
class Step:
    name: str
    inputs: tuple  # paths relative to ROOT whose content the result depends on
    stamp: Path  # inside the step's output, so removing the output re-runs the step
    action: Callable[[], None]
    salt: str = ""  # anything else the result depends on


NPM_PYODIDE = ("web/package.json", "web/package-lock.json")
STEPS = (
    Step("python venv", (), VENV / STAMP_NAME, make_venv, salt=sys.version),
    Step("python packages", ("pyproject.toml",), VENV / f"{STAMP_NAME}-packages", install_python_deps,
         salt=sys.version),
    Step("python test packages", ("pyproject.toml",), VENV / f"{STAMP_NAME}-test-packages", install_test_deps,
         salt=sys.version),
    Step("npm reference peers", ("tests/node/package.json", "tests/node/package-lock.json"),
         NODE_DIR / "node_modules" / STAMP_NAME, install_node_deps),
    Step("chromium", (), VENV / f"{STAMP_NAME}-chromium", install_chromium),
    Step("pyodide core", NPM_PYODIDE, ROOT / "web" / "node_modules" / STAMP_NAME, install_pyodide_core),
    Step("pyodide dist", (*NPM_PYODIDE, "web/build_dist.py", "pyproject.toml", "build_backend.py",
                          *package_sources()),
         WEB_DIST / STAMP_NAME, build_pyodide_dist),
    Step("bundle", bundle_sources(), BUNDLE / STAMP_NAME, build_bundle),
)
# What `python build.py serve` sets up first (the rest is for tests and benchmarks), and what the package's
# browser half needs (the venv's pip downloads the wheels for Pyodide and builds ours).
SERVE_STEPS = ("python venv", "python packages")
BUNDLE_STEPS = ("python venv", "pyodide core", "pyodide dist", "bundle")


def fingerprint(step):
    """A hash of the step's name, its salt and its input files' contents."""
    digest = hashlib.sha256(f"{step.name}\0{step.salt}\0".encode())
    for name in step.inputs:
        path = ROOT / name
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def set_up(names=None):
    """Run the steps named (all when ``None``) that are not up to date, in ``STEPS``' order."""
    for step in STEPS:
        if names is not None and step.name not in names:
            continue
        if step.stamp.exists() and step.stamp.read_text() == fingerprint(step):
            continue
        log(f"{step.name} ...")
        started = time.monotonic()
        step.action()
        # Hash after the run: `npm install` writes the lock file it then depends on.
        step.stamp.write_text(fingerprint(step))
        log(f"{step.name} done in {time.monotonic() - started:.1f} s")


# --- commands ---------------------------------------------------------------------------------------------

def cmd_setup(args):
    if args:
        raise BuildError(f"unexpected arguments: {' '.join(args)}")
    log("everything is set up")
    return 0


def cmd_test(args):
    checks = {
        "ruff": [VENV_BIN / "ruff", "check", *LINT_PATHS],
        "eslint": [NODE_DIR / "node_modules" / ".bin" / "eslint", "--config", NODE_DIR / "eslint.config.js",
                   *JS_LINT_PATHS],
        "pytest": [VENV_PYTHON, "-m", "pytest", *args],
    }
    # Run every check even after a failure, so one CI run reports them all.
    failed = [name for name, cmd in checks.items() if subprocess.run(cmd, cwd=ROOT).returncode]
    log("FAILED: " + ", ".join(failed) if failed else "ruff, eslint and pytest passed")
    return 1 if failed else 0


# What `browsercouch browser` needs beyond the serving steps (Chromium itself is used only if installed).
BROWSER_STEPS = ("pyodide core", "pyodide dist", "bundle")


def cmd_serve(args):
    exe = VENV_BIN / "browsercouch"
    native = args[:1] == ["--native"]
    reason = "--native" if native else browser_unavailable()
    if reason is None:
        headless = [] if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") else ["--headless"]
        log("serving from the browser: `browsercouch browser` (Chromium with the browsercouch extension; "
            "`python build.py serve --native` for the native server)")
        log_stop_hint()
        os.execv(exe, [str(exe), "browser", *headless, *args])
    log(f"serving natively: `browsercouch serve` ({reason})")
    log_stop_hint()
    os.execv(exe, [str(exe), "serve", *args[native:]])


def log_stop_hint():
    """How to stop the server, which replaces this process (exec) and so keeps its pid."""
    log(f"it serves until stopped: press Ctrl-C, or run `kill {os.getpid()}` (SIGTERM)")


def browser_unavailable():
    """Why this machine cannot serve from Chromium, or ``None`` (after building what it needs)."""
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "Chromium is not installed"
    try:
        set_up(names=BROWSER_STEPS)
    except BuildError as err:
        return f"the browser extension cannot be built: {err}"
    return None


def cmd_bundle(args):
    if args:
        raise BuildError(f"unexpected arguments: {' '.join(args)}")
    log(f"the browser half is in {BUNDLE.relative_to(ROOT)}")
    return 0


BENCHMARKS = ("server", "replicate", "queries", "browser", "extension", "peers", "soak")


def cmd_bench(args):
    names, args = ((args[0],), args[1:]) if args and args[0] in BENCHMARKS else (BENCHMARKS, args)
    for name in names:
        code = subprocess.run([VENV_PYTHON, ROOT / "bench" / f"bench_{name}.py", *args], cwd=ROOT).returncode
        if code:
            return code
    return 0


COMMANDS = {"setup": cmd_setup, "test": cmd_test, "serve": cmd_serve, "bundle": cmd_bundle,
            "bench": cmd_bench}
# The steps a command sets up before it runs; every step for the others.
COMMAND_STEPS = {"serve": SERVE_STEPS, "bundle": BUNDLE_STEPS}


def main(argv):
    if argv and argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    name, args = (argv[0], argv[1:]) if argv else ("setup", [])
    if name not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        set_up(names=COMMAND_STEPS.get(name))
        return COMMANDS[name](args)
    except BuildError as exc:
        log(f"error: {exc}")
        return 1


def run_pypa_build():
    """``python -m build`` here finds this file before the PyPA ``build`` package (``python -m build`` makes
    the sdist and the wheel): hand over to that package, as if this file were not on the path."""
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT]
    if importlib.util.find_spec("build") is None:
        sys.exit("python -m build needs the build package: pip install build, or after `python build.py` "
                 "run .venv/bin/python -m build")
    runpy.run_module("build", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    if __spec__ is not None:  # run as `python -m build`, not as `python build.py`
        run_pypa_build()
    else:
        sys.exit(main(sys.argv[1:]))
