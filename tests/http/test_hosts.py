"""``http.TrustedHosts``: which ``Host`` a request may name (the DNS rebinding guard), table-driven."""

import asyncio
import json

import pytest

from browsercouch.http import TrustedHosts


async def _inner(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"inner"})


def _status(host, server=("127.0.0.1", 5984), hostnames=()):
    sent = []

    async def send(message):
        sent.append(message)

    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "server": server}
    asyncio.run(TrustedHosts(_inner, hostnames)(scope, None, send))
    if sent[0]["status"] == 400:
        body = json.loads(sent[1]["body"])
        assert body["error"] == "bad_request" and body["reason"]
    return sent[0]["status"]


@pytest.mark.parametrize("host, server, hostnames, status", [
    ("127.0.0.1:5984", ("127.0.0.1", 5984), (), 200),
    ("127.0.0.1", ("127.0.0.1", 5984), (), 200),
    ("localhost:5984", ("127.0.0.1", 5984), (), 200),
    ("LocalHost:5984", ("127.0.0.1", 5984), (), 200),
    ("127.9.9.9:5984", ("127.0.0.1", 5984), (), 200),
    ("[::1]:5984", ("::1", 5984), (), 200),
    ("[::1]", ("127.0.0.1", 5984), (), 200),
    (None, ("127.0.0.1", 5984), (), 200),
    ("127.0.0.1:5985", ("127.0.0.1", 5984), (), 400),
    ("evil.example:5984", ("127.0.0.1", 5984), (), 400),
    ("localhost.evil.example:5984", ("127.0.0.1", 5984), (), 400),
    ("10.1.2.3:5984", ("127.0.0.1", 5984), (), 400),
    ("10.1.2.3:5984", ("10.1.2.3", 5984), (), 200),
    ("10.1.2.3:5984", ("::ffff:10.1.2.3", 5984), (), 200),
    ("10.1.2.4:5984", ("10.1.2.3", 5984), (), 400),
    ("[fe80::1]:5984", ("fe80::1", 5984), (), 200),
    ("couch.lan:443", ("10.1.2.3", 5984), ("couch.lan",), 200),
    ("COUCH.LAN", ("10.1.2.3", 5984), ("Couch.Lan",), 200),
    ("other.lan:5984", ("10.1.2.3", 5984), ("couch.lan",), 400),
    ("", ("127.0.0.1", 5984), (), 400),
    ("127.0.0.1:port", ("127.0.0.1", 5984), (), 400),
    ("[::1", ("127.0.0.1", 5984), (), 400),
    ("[::1]x", ("127.0.0.1", 5984), (), 400),
])
def test_which_hosts_are_served(host, server, hostnames, status):
    assert _status(host, server, hostnames) == status


def test_other_scopes_pass_through():
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(TrustedHosts(inner)({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]
