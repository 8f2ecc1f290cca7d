"""Servers for the ``_users`` and ``_replicator`` tests: browsercouch natively and Apache CouchDB 3.4.3, both
with an admin ``admin:password``, users made through ``_users`` and a system database opened to a role, so
that the same requests can be sent to both and their answers compared."""

import secrets
import time
import urllib.parse

from helpers import COUCHDB_ADMIN, http

ADMIN = COUCHDB_ADMIN


class Server:
    """A server at ``url`` (no credentials in it); ``as_(user)`` sends requests as ``(name, password)``,
    ``None`` for anonymous."""

    def __init__(self, name, url):
        self.name, self.url = name, url.rstrip("/")

    def request(self, method, path, body=None, user=ADMIN, headers=None):
        """``(status, payload)`` of one request as ``user``."""
        url = self.url + path
        if user is not None:
            name, password = (urllib.parse.quote(part, safe="") for part in user)
            url = url.replace("http://", f"http://{name}:{password}@", 1)
        status, _, payload = http(method, url, body, headers)
        return status, payload

    def error(self, method, path, body=None, user=ADMIN):
        """``(status, error, reason)`` of a request that should fail (the payload when it did not)."""
        status, payload = self.request(method, path, body, user)
        if isinstance(payload, dict) and "error" in payload:
            return status, payload["error"], payload.get("reason")
        return status, payload

    def make_user(self, name, password, roles=()):
        doc = {"name": name, "password": password, "roles": list(roles), "type": "user"}
        status, payload = self.request("PUT", f"/_users/org.couchdb.user:{name}", doc)
        assert status == 201, payload
        return payload["rev"]


def unique(prefix):
    return f"{prefix}{secrets.token_hex(4)}"


def open_to_role(server, db, role):
    """Add ``role`` to the members of the system database ``db``; return a function that undoes it."""
    status, before = server.request("GET", f"/{db}/_security")
    assert status == 200, before
    members = before.get("members", {})
    widened = {**before, "members": {**members, "roles": [*members.get("roles", []), role]}}
    assert server.request("PUT", f"/{db}/_security", widened)[0] == 200
    return lambda: server.request("PUT", f"/{db}/_security", before)


def reference_server(couchdb, timeout=30.0):
    """The ``couchdb`` fixture as a ``Server``, once it has made ``_users`` and its validating
    ``_design/_auth`` (a fresh CouchDB does a moment after it starts, and accepts any user document
    until then)."""
    couch = Server("couchdb", couchdb.plain_url)
    deadline = time.monotonic() + timeout
    while couch.request("GET", "/_users/_design/_auth")[0] != 200:
        assert time.monotonic() < deadline, "CouchDB never made _users/_design/_auth"
        time.sleep(0.2)
    return couch
