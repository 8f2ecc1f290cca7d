"""The PEP 517 build backend: setuptools, once ``build.py`` has put the browser half into the package.

A browsercouch wheel carries the web app, the browser extension and an offline Pyodide in
``browsercouch/extension/`` (see ``browsercouch/bundled.py``). In a source checkout that directory is
build output, so building a wheel or an sdist first runs ``python build.py bundle``, which builds it or
finds it up to date: ``python -m build``, ``pip wheel .`` and ``pip install .`` always package the
current sources, by the same steps as ``python build.py``. An sdist carries the directory built, so a
wheel built from it needs neither npm nor ``build.py``.

``-C bundle=omit`` builds the Python code alone: the wheel that goes inside the bundle, for Pyodide
(``web/build_dist.py``, from a copy of the code). Without it a tree with neither ``build.py`` nor the
bundle is an error, never a wheel missing its browser half. Editable installs package nothing: a
checkout's ``browsercouch/extension/`` is used where it is.
"""

import subprocess
import sys
from pathlib import Path

from setuptools import build_meta

ROOT = Path(__file__).resolve().parent
BUNDLE_MANIFEST = ROOT / "browsercouch" / "extension" / "manifest.json"

get_requires_for_build_sdist = build_meta.get_requires_for_build_sdist
get_requires_for_build_wheel = build_meta.get_requires_for_build_wheel
prepare_metadata_for_build_wheel = build_meta.prepare_metadata_for_build_wheel
get_requires_for_build_editable = build_meta.get_requires_for_build_editable
prepare_metadata_for_build_editable = build_meta.prepare_metadata_for_build_editable
build_editable = build_meta.build_editable


def _bundle_first(config_settings):
    """Build (or check) the browser half; return the settings meant for setuptools."""
    settings = dict(config_settings or {})
    if settings.pop("bundle", None) == "omit":
        return settings
    if (ROOT / "build.py").is_file():
        # build.py prints its progress on stdout, which a frontend may parse: send it to stderr.
        command = [sys.executable, str(ROOT / "build.py"), "bundle"]
        built = subprocess.run(command, cwd=ROOT, stdout=sys.stderr)
        if built.returncode:
            raise RuntimeError("`python build.py bundle` failed: see its output above")
    elif not BUNDLE_MANIFEST.is_file():
        raise RuntimeError(f"{BUNDLE_MANIFEST.parent} is missing: build from a source checkout (it runs "
                           "`python build.py bundle`) or from an sdist, or pass -C bundle=omit for the "
                           "Python code alone")
    return settings


def build_sdist(sdist_directory, config_settings=None):
    return build_meta.build_sdist(sdist_directory, _bundle_first(config_settings))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return build_meta.build_wheel(wheel_directory, _bundle_first(config_settings), metadata_directory)
