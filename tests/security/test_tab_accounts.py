"""The tab applies the ``_users`` and ``_replicator`` rules to its LAN peers too (issue 12, item 3), and
hashes their passwords with WebCrypto: the key it stores is the one ``hashlib`` derives, and the user
logs in with it."""

import hashlib
import time

import pytest
from helpers import start_browser_server

from browsercouch import launcher

from .peers import ADMIN, Server, open_to_role, unique

pytestmark = [pytest.mark.slow, pytest.mark.chromium,
              pytest.mark.skipif(launcher.missing_reason() is not None,
                                 reason=launcher.missing_reason() or "")]

ROLE = "staff"
JOB_TIMEOUT = 30.0


def _job_state(tab, doc_id):
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        doc = tab.request("GET", f"/_replicator/{doc_id}")[1]
        if doc.get("_replication_state") in ("completed", "failed"):
            return doc["_replication_state"]
        assert time.monotonic() < deadline, doc
        time.sleep(0.3)


def test_the_tab_keeps_users_to_their_own_documents_and_rights(tmp_path):
    server = start_browser_server(tmp_path / "profile", "--lan", "--admin", ":".join(ADMIN))
    try:
        tab = Server("tab", server.url)
        for db in ("_users", "_replicator", "secret", "public"):
            assert tab.request("PUT", f"/{db}")[0] == 201
            if db.startswith("_"):
                open_to_role(tab, db, ROLE)
        assert tab.request("PUT", "/public/_security", {})[0] == 200
        assert tab.request("PUT", "/secret/doc", {"secret": True})[0] == 201
        bob, carol = (unique("bob"), "bob-pw"), (unique("carol"), "carol-pw")
        for name, password in (bob, carol):
            tab.make_user(name, password, [ROLE])

        stored = tab.request("GET", f"/_users/org.couchdb.user:{bob[0]}", user=bob)[1]
        salt, iterations = stored["salt"].encode(), stored["iterations"]
        expected = hashlib.pbkdf2_hmac("sha256", bob[1].encode(), salt, iterations)
        assert stored["derived_key"] == expected.hex() and stored["iterations"] == 600_000
        assert tab.error("GET", f"/_users/org.couchdb.user:{carol[0]}", user=bob) == \
            (404, "not_found", "missing")
        assert tab.error("PUT", f"/_users/{stored['_id']}", {**stored, "roles": ["_admin"]}, bob) == \
            (403, "forbidden", "Only _admin may edit roles")

        steal = {"source": "secret", "target": "public"}
        assert tab.request("PUT", "/_replicator/steal", steal, bob)[0] == 201
        assert _job_state(tab, "steal") == "failed"
        assert tab.request("GET", "/public")[1]["doc_count"] == 0
    finally:
        server.stop()
