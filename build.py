#!/usr/bin/env python3
"""Set up, test, serve and benchmark browsercouch: the one entry point. Standard library only.

    python build.py                  set up only
    python build.py test [ARGS]      set up, then ruff and pytest ARGS (exit non-zero on any failure)
    python build.py serve [ARGS]     set up, then serve: `browsercouch browser ARGS` (Chromium with the
                                     extension is the server) when Chromium is installed, else the
                                     native `browsercouch serve ARGS`; `serve --native [ARGS]` forces
                                     the native server
    python build.py bench [NAME [ARGS]]
                                     set up, then the benchmarks: bench/bench_server.py,
                                     bench/bench_replicate.py, bench/bench_browser.py (headless
                                     Chromium) and bench/bench_extension.py (the extension shell vs
                                     the native server), or only bench/bench_NAME.py ARGS

Set-up is the table ``STEPS``. A step names the files its result depends on and where it keeps its stamp
(a hash of those files); it runs only when the stamp is missing or stale. Stamps live inside what the step
produces, so deleting ``.venv`` or ``node_modules`` re-runs the step that made it. Add a step by adding a
row.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
NODE_DIR = ROOT / "tests" / "node"
WEB_DIST = ROOT / "web" / "dist"
STAMP_NAME = ".browsercouch-build-stamp"
LINT_PATHS = ("browsercouch", "tests", "bench", "web", "build.py")


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


def install_python_deps():
    run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[test]")


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


def build_pyodide_dist():
    # web/build_dist.py: the Pyodide core from npm, pinned pure wheels from PyPI, our wheel, a pruned lock.
    need("npm")
    spec = importlib.util.spec_from_file_location("build_dist", ROOT / "web" / "build_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.build(str(VENV_PYTHON))
    except RuntimeError as error:
        raise BuildError(str(error)) from error


def build_extension():
    # web/build_extension.py: the web app (and web/dist) copied into the extension, web/extension/app/.
    build_extension_module().build()


def build_extension_module():
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "web" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def extension_sources():
    """What the extension's copy of the app is made of (web/dist by its build stamp, not its 16 MB)."""
    return ("web/build_extension.py", *build_extension_module().sources())


def package_sources():
    """The files our wheel is built from: the dist is rebuilt when one changes."""
    return tuple(sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "browsercouch").rglob("*.py")))


@dataclass(frozen=True)
class Step:
    name: str
    inputs: tuple  # paths relative to ROOT whose content the result depends on
    stamp: Path  # inside the step's output, so removing the output re-runs the step
    action: Callable[[], None]
    salt: str = ""  # anything else the result depends on
    serve: bool = False  # `python build.py serve` needs it (the rest is for tests and benchmarks)


STEPS = (
    Step("python venv", (), VENV / STAMP_NAME, make_venv, salt=sys.version, serve=True),
    Step("python packages", ("pyproject.toml",), VENV / f"{STAMP_NAME}-packages", install_python_deps,
         salt=sys.version, serve=True),
    Step("npm reference peers", ("tests/node/package.json", "tests/node/package-lock.json"),
         NODE_DIR / "node_modules" / STAMP_NAME, install_node_deps),
    Step("chromium", (), VENV / f"{STAMP_NAME}-chromium", install_chromium),
    Step("pyodide dist", ("web/package.json", "web/package-lock.json", "web/build_dist.py", "pyproject.toml",
                          *package_sources()),
         WEB_DIST / STAMP_NAME, build_pyodide_dist),
    Step("browser extension", extension_sources(), ROOT / "web" / "extension" / "app" / STAMP_NAME,
         build_extension),
)


def fingerprint(step):
    """A hash of the step's name, its salt and its input files' contents."""
    digest = hashlib.sha256(f"{step.name}\0{step.salt}\0".encode())
    for name in step.inputs:
        path = ROOT / name
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def set_up(only_serving=False, names=None):
    for step in STEPS:
        if (only_serving and not step.serve) or (names is not None and step.name not in names):
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
        "pytest": [VENV_PYTHON, "-m", "pytest", *args],
    }
    # Run every check even after a failure, so one CI run reports them all.
    failed = [name for name, cmd in checks.items() if subprocess.run(cmd, cwd=ROOT).returncode]
    log("FAILED: " + ", ".join(failed) if failed else "ruff and pytest passed")
    return 1 if failed else 0


# What `browsercouch browser` needs beyond the serving steps (Chromium itself is used only if installed).
BROWSER_STEPS = ("pyodide dist", "browser extension")


def cmd_serve(args):
    exe = VENV_BIN / "browsercouch"
    native = args[:1] == ["--native"]
    reason = "--native" if native else browser_unavailable()
    if reason is None:
        headless = [] if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") else ["--headless"]
        log("serving from the browser: `browsercouch browser` (Chromium with the browsercouch extension; "
            "`python build.py serve --native` for the native server)")
        os.execv(exe, [str(exe), "browser", *headless, *args])
    log(f"serving natively: `browsercouch serve` ({reason})")
    os.execv(exe, [str(exe), "serve", *args[native:]])


def browser_unavailable():
    """Why this machine cannot serve from Chromium, or ``None`` (after building what it needs)."""
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "Chromium is not installed"
    try:
        set_up(names=BROWSER_STEPS)
    except BuildError as err:
        return f"the browser extension cannot be built: {err}"
    return None


BENCHMARKS = ("server", "replicate", "browser", "extension")


def cmd_bench(args):
    names, args = ((args[0],), args[1:]) if args and args[0] in BENCHMARKS else (BENCHMARKS, args)
    for name in names:
        code = subprocess.run([VENV_PYTHON, ROOT / "bench" / f"bench_{name}.py", *args], cwd=ROOT).returncode
        if code:
            return code
    return 0


COMMANDS = {"setup": cmd_setup, "test": cmd_test, "serve": cmd_serve, "bench": cmd_bench}


def main(argv):
    if argv and argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    name, args = (argv[0], argv[1:]) if argv else ("setup", [])
    if name not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        set_up(only_serving=name == "serve")
        return COMMANDS[name](args)
    except BuildError as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
