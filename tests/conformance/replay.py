"""Replay: send a scenario's steps to one server and keep its normalised answers (the only I/O here).

Each replay creates the scenario's database ``{db}`` first (``?q=1``: one shard, so CouchDB's changes
come in update order and its sequence numbers count updates as ours do; browsercouch ignores ``q``),
runs the ``setup`` steps and then the steps, and deletes the database at the end. Requests go to
127.0.0.1 only, one connection each, with ``Accept: application/json`` unless the step says otherwise,
as the admin unless the step says otherwise.
"""

import base64
import http.client
import urllib.parse
from dataclasses import dataclass

from .normalise import Normaliser, parse_body
from .steps import ADMIN, Request, extract, render

__all__ = ["Server", "replay", "TIMEOUT"]

# Seconds one answer may take; the slowest steps are feeds that wait 200 ms and logins (PBKDF2).
TIMEOUT = 30.0


@dataclass(frozen=True)
class Server:
    """A server under comparison: its base URL (no credentials) and its admin's ``name:password``."""

    name: str
    url: str
    admin: str

    def __post_init__(self):
        host = urllib.parse.urlsplit(self.url).hostname
        if host != "127.0.0.1":
            raise ValueError(f"refusing a non-loopback server: {self.url}")


def send(server, request):
    """Send one ``steps.Request``; returns ``(status, headers, raw body)``. The path is percent-encoded
    where it must be (``%2F`` stays, so ``a%2Fb`` is one segment)."""
    parts = urllib.parse.urlsplit(server.url)
    target = urllib.parse.quote(request.path, safe="/%:@!$&'()*+,;=-._~")
    if request.query:
        target += "?" + urllib.parse.urlencode(request.query, quote_via=urllib.parse.quote)
    headers = {"Accept": "application/json", **request.headers}
    credentials = server.admin if request.auth == ADMIN else request.auth
    if credentials is not None and not any(name.lower() == "authorization" for name in headers):
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.request(request.method, target, body=request.body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    return response.status, response.headers, raw


def _admin_request(method, path, query=()):
    return Request(method, path, list(query), {}, None, ADMIN)


def _run(server, step, context, normaliser):
    status, headers, raw = send(server, render(step, context))
    exchange = normaliser.exchange(status, headers, raw)
    if step.save:
        payload = parse_body(headers.get("Content-Type") or "", raw)
        for name, source in step.save.items():
            context[name] = extract(source, headers, payload)
    return exchange


def replay(server, scenario, db):
    """Run ``scenario`` on ``server`` with the database named ``db``; returns ``[(step name, normalised
    exchange)]`` for its compared steps."""
    context, normaliser = {"db": db}, Normaliser()
    status, _, raw = send(server, _admin_request("PUT", f"/{db}", [("q", "1")]))
    if status not in (201, 202):
        raise RuntimeError(f"{server.name}: PUT /{db} answered {status}: {raw!r}")
    try:
        for step in scenario.setup:
            _run(server, step, context, Normaliser())
        return [(step.name, _run(server, step, context, normaliser)) for step in scenario.steps]
    finally:
        send(server, _admin_request("DELETE", f"/{db}"))
