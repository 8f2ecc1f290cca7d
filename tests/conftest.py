"""Shared fixtures: servers under test as real subprocesses on 127.0.0.1 (see ``helpers.py``).

- ``browsercouch_server``: base URL of one in-memory browsercouch for the session (use fresh db names).
- ``browsercouch_factory``: start browsercouch with extra CLI args (``--data``, ``--admin``, ``--cors``)
  for one test; every server it started is stopped afterwards.
- ``pouchdb_server``: base URL of the npm pouchdb-server 4.2.0 reference, in memory, for the session.
- ``couch_url``: the base URL of each of the two, so a test runs against browsercouch and the reference.
- ``couchdb``: one Apache CouchDB 3.4.3 (``helpers.CouchDBProcess``: ``.url`` carries admin:password) for
  the session, from ``../shared/couchdb``; tests that use it skip, saying why, where that is absent.

Tests marked ``node`` need Node.js and ``tests/node/node_modules`` (``python build.py`` installs them);
without them they are skipped with the reason.

Inside Pyodide (``sys.platform == "emscripten"``, see ``tests/pyodide``) tests that need sockets, threads,
subprocesses, uvicorn or Node are skipped (``pyodide_support.skip_reason``; mark others ``native``) and
asyncio runs on ``pyodide_support.SyncLoop``.
"""

import gc
import logging
import os
import sys

import pytest
from helpers import (
    couchdb_missing_reason,
    node_missing_reason,
    start_browsercouch,
    start_couchdb,
    start_pouchdb_server,
)

EMSCRIPTEN = sys.platform == "emscripten"
if EMSCRIPTEN:
    import pyodide_support

    pyodide_support.install()


class _LeakedTasks(logging.Handler):
    """Collects asyncio's "Task was destroyed but it is pending!": a task nobody stopped, which the
    session fails on (a server or scheduler a test left running)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.leaks = []

    def emit(self, record):
        if "Task was destroyed but it is pending" in record.getMessage():
            during = os.environ.get("PYTEST_CURRENT_TEST", "between tests")
            self.leaks.append(f"{self.format(record)}\n  (noticed during {during})")


LEAKED_TASKS = _LeakedTasks()


def pytest_sessionstart(session):
    logging.getLogger("asyncio").addHandler(LEAKED_TASKS)


def pytest_runtest_teardown(item, nextitem):
    """Collect garbage at the end of each test module, so a leaked task is reported near its test."""
    if nextitem is None or nextitem.module is not item.module:
        gc.collect()


def pytest_sessionfinish(session, exitstatus):
    gc.collect()
    if LEAKED_TASKS.leaks:
        print("\nasyncio tasks left pending by the tests:\n" + "\n".join(LEAKED_TASKS.leaks[:10]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config, items):
    if EMSCRIPTEN:
        for item in items:
            reason = pyodide_support.skip_reason(item)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
    reason = node_missing_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "node" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browsercouch_server():
    server = start_browsercouch()
    yield server.url
    server.stop()


@pytest.fixture
def browsercouch_factory():
    """``start(*args) -> ServerProcess`` (``.url``, ``.stop()``); a stopped server may be started again
    on the same ``--data`` directory to test persistence."""
    servers = []

    def start(*args):
        server = start_browsercouch(*map(str, args))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def pouchdb_server(tmp_path_factory):
    reason = node_missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_pouchdb_server(tmp_path_factory.mktemp("pouchdb-server"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def couchdb(tmp_path_factory):
    reason = couchdb_missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_couchdb(tmp_path_factory.mktemp("couchdb"))
    yield server
    server.stop()


@pytest.fixture(params=[
    pytest.param("browsercouch_server", id="browsercouch"),
    pytest.param("pouchdb_server", id="pouchdb-server", marks=pytest.mark.node),
])
def couch_url(request):
    return request.getfixturevalue(request.param)
