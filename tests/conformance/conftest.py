"""Fixtures of the conformance suite: the servers compared, and the replays of the corpus.

- ``couchdb_server``: Apache CouchDB 3.4.3 (the session's ``couchdb`` fixture; skips, saying why, where the
  release is absent) as a ``replay.Server``.
- ``native_server``: one ``browsercouch serve --memory --admin admin:password`` for the session, so both
  servers have the same admin and refuse anonymous users alike.
- ``replays``: runs each scenario once per server, on demand, and keeps the answers, so CouchDB's are
  computed once however many targets are compared with them.
"""

import secrets

import pytest
from helpers import start_browsercouch

from .compare import transcript_differences
from .replay import Server, replay

ADMIN = "admin:password"


@pytest.fixture(scope="session")
def couchdb_server(couchdb):
    return Server("couchdb", couchdb.plain_url, couchdb.auth)


@pytest.fixture(scope="session")
def native_server():
    server = start_browsercouch("--admin", ADMIN)
    yield Server("native", server.url, ADMIN)
    server.stop()


class Replays:
    """Each scenario's normalised answers, per server, computed once; ``differences`` compares a target's
    with CouchDB's. Both replays of a scenario use the same fresh database name, as names show in answers
    (``db_name``, ``Location``, reasons)."""

    def __init__(self, couchdb_server):
        self.couchdb = couchdb_server
        self._names = {}
        self._answers = {}

    def answers(self, server, scenario):
        """``server``'s normalised answers to ``scenario``: ``[(step name, exchange)]``."""
        key = (server.name, scenario.name)
        if key not in self._answers:
            db = self._names.setdefault(scenario.name, f"conformance-{scenario.name.replace('_', '-')}-"
                                                       f"{secrets.token_hex(4)}")
            self._answers[key] = replay(server, scenario, db)
        return self._answers[key]

    def differences(self, server, scenario):
        """The ``compare.Difference``s between CouchDB's answers to ``scenario`` and ``server``'s."""
        return transcript_differences(scenario.name, self.answers(self.couchdb, scenario),
                                      self.answers(server, scenario))


@pytest.fixture(scope="session")
def replays(couchdb_server):
    return Replays(couchdb_server)
