"""Which ``Host`` a request may name: the guard against DNS rebinding.

A web page on a name its author controls (``evil.example``) can make that name resolve to this server,
127.0.0.1 or a LAN address, once the page has loaded. The browser then sends the page's requests here as
same-origin requests, so CORS does not stop the page from reading and changing every database of a
loopback admin party. What the browser cannot hide is the name: the ``Host`` header says
``evil.example``. So a request is served only when its ``Host`` names

- a loopback name or address (``localhost``, ``127.0.0.0/8``, ``[::1]``), or the address the client
  connected to (on a LAN, this machine's own address the peer used), with the port the connection came
  in on, or with none (browsers always name a port other than 80; some other clients leave it out); or
- one of the names the server was given (``--hostname``), with any port: a proxy in front may serve it
  on its own.

Anything else is answered 400 ``bad_request``, saying why. A request without ``Host`` (HTTP/1.0, which h11
allows without one) passes: every browser sends one.
"""

import functools
import ipaddress
import json

__all__ = ["TrustedHosts"]

# Names that always mean this machine, whatever DNS says (RFC 6761 section 6.3).
LOOPBACK_NAMES = frozenset({"localhost"})


class TrustedHosts:
    """ASGI middleware: ``app`` sees only requests whose ``Host`` names this server (see the module).

    ``hostnames`` are the extra names (case-insensitive) it is known by.
    """

    def __init__(self, app, hostnames=()):
        self.app = app
        self.hostnames = frozenset(name.lower() for name in hostnames)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = _host_header(scope["headers"])
            if host is not None:
                reason = _refusal(host, tuple(scope.get("server") or ("", 0)), self.hostnames)
                if reason is not None:
                    await _send_refusal(send, reason)
                    return
        await self.app(scope, receive, send)


def _host_header(headers):
    for name, value in headers:
        if name.lower() == b"host":
            return value.decode("latin-1")
    return None


@functools.lru_cache(maxsize=1024)
def _refusal(host, server, hostnames):
    """Why a request naming ``host`` on a connection to ``server`` (address, port) is refused, or ``None``."""
    name, port = _split(host)
    if name is None:
        return f"Host {host!r} is not a host name with an optional port"
    if name in hostnames:
        return None
    if _is_this_machine(name, server[0]) and port in (None, server[1]):
        return None
    names = " or ".join(f"{shown}:{server[1]}" for shown in _examples(server[0]))
    return (f"Host {host!r} does not name this server (a guard against DNS rebinding): use {names}, or "
            "start the server with --hostname NAME to accept another name")


def _split(host):
    """``(lowercase name or address, port or None)`` of a Host value, or ``(None, None)``."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None, None
        port = rest[1:]
    else:
        name, _, port = host.partition(":")
    if not name or (port and not port.isdigit()):
        return None, None
    return name, int(port) if port else None


def _is_this_machine(name, local):
    """Whether ``name`` is a loopback name or address, or the local address of the connection."""
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address == _address(local)


def _address(text):
    """The connection's local address, IPv4-mapped IPv6 (a dual-stack listener) as plain IPv4."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def _examples(local):
    shown = ["127.0.0.1", "localhost"]
    address = _address(local)
    if address is not None and not address.is_loopback:
        shown.append(f"[{address}]" if address.version == 6 else str(address))
    return shown


async def _send_refusal(send, reason):
    body = json.dumps({"error": "bad_request", "reason": reason}).encode() + b"\n"
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})
