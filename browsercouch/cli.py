"""The ``browsercouch`` command: ``browsercouch serve`` runs the CouchDB-compatible server natively.

This is the only module that imports uvicorn (native serving); the browser runtime serves the same
``CouchApp`` through ``browsercouch.http``'s h11 driver instead.
"""

import argparse
import asyncio
import ipaddress
import logging
import socket
import sys

from . import __version__
from .api import CouchApp
from .api.auth import format_admin_hash, hash_password, parse_admin_hash
from .store import Couch

__all__ = ["main"]

DEFAULT_PORT = 5984
DEFAULT_DATA_DIR = "./browsercouch-data"


def build_parser():
    parser = argparse.ArgumentParser(prog="browsercouch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"browsercouch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the CouchDB-compatible HTTP server")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other address requires --admin)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help="port (default 5984; 0 picks a free one)")
    store = serve.add_mutually_exclusive_group()
    store.add_argument("--data", default=DEFAULT_DATA_DIR, metavar="DIR",
                       help=f"directory of the SQLite databases (default {DEFAULT_DATA_DIR})")
    store.add_argument("--memory", action="store_true", help="keep everything in memory")
    serve.add_argument("--admin", action="append", default=[], metavar="USER:PASS",
                       help="create or update a server admin (repeatable); stored hashed (PBKDF2)")
    serve.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                       help="allow cross-origin requests from ORIGIN (repeatable; * for any)")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return parser


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _set_admins(couch, specs):
    """Add ``USER:PASS`` admins to the server's settings, hashed; return all admins' credentials."""
    admins = couch.config.setdefault("admins", {})
    for spec in specs:
        name, sep, password = spec.partition(":")
        if not sep or not name or not password:
            raise SystemExit(f"browsercouch: --admin expects USER:PASS, got {spec!r}")
        admins[name] = format_admin_hash(hash_password(password))
    for name, value in admins.items():
        if parse_admin_hash(value) is None:
            # A clear-text password typed into _config.json: hash it, as CouchDB does with [admins].
            admins[name] = format_admin_hash(hash_password(value))
            specs = True
    if specs:
        couch.save_config()
    return {name: parse_admin_hash(value) for name, value in admins.items()}


def _bind(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP, and without
    # it every small response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        raise SystemExit(f"browsercouch: cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve(args):
    couch = Couch(None if args.memory else args.data)
    admins = _set_admins(couch, args.admin)
    if not admins and not _is_loopback(args.host):
        raise SystemExit(
            f"browsercouch: refusing to serve {args.host} without credentials: anyone on the network could "
            "read and change every database. Add --admin USER:PASS, or bind 127.0.0.1.")
    app = CouchApp(couch, admins=admins, cors_origins=args.cors)
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"browsercouch listening on http://{shown}:{port}/", flush=True)
    if not admins:
        print("browsercouch: no admin configured; every local client is an admin (admin party)",
              file=sys.stderr, flush=True)
    asyncio.run(_run_uvicorn(app, sock, args.log_level))


async def _run_uvicorn(app, sock, log_level):
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                            timeout_keep_alive=60, server_header=False, date_header=True)
    server = uvicorn.Server(config)
    await server.serve(sockets=[sock])


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()))
    if args.command == "serve":
        serve(args)
