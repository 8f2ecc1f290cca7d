"""The ``browsercouch`` command: ``browsercouch serve`` runs the CouchDB-compatible server natively;
``browsercouch replicate SOURCE TARGET`` and ``browsercouch sync A B`` run replications;
``browsercouch web`` serves the web app, which runs browsercouch inside the browser tab;
``browsercouch browser`` makes Chromium itself the server (the extension and its socket bridge);
``browsercouch peers`` lists the servers and browsers announced on the LAN (``serve --announce``);
``browsercouch extension-path`` and ``extension-zip OUT.zip`` hand the extension to other browsers.
The web app and the extension ship inside the package (``bundled``).

Natively, ``serve`` and ``web`` run their ASGI app on ``browsercouch.http``'s h11 driver, the one the
browser tab runs (``http/asyncio_server.py`` says why it replaced uvicorn). Mistakes in what a user
typed end in one line on stderr, never a traceback; SIGTERM stops a command as Ctrl-C does.
"""

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

from . import __version__, bundled
from .api import CouchApp, format_admin_hash, hash_password, parse_admin_hash
from .errors import CouchError
from .hashing import ThreadedPbkdf2
from .http import DEFAULT_LIMITS, AccessLog, Limits, TrustedHosts, lifespan, start_server, tcp_client
from .replicator import Replication, ReplicationOptions, open_endpoint
from .static import StaticFiles
from .store import Couch

__all__ = ["main"]

DEFAULT_PORT = 5984
DEFAULT_DATA_DIR = "./browsercouch-data"
DEFAULT_WEB_PORT = 8000
DEFAULT_BROWSER_PORT = 61984
DEFAULT_PROFILE = "./browsercouch-profile"
DESCRIPTION = ("A CouchDB-compatible document database server and replicator, natively or inside a browser "
               "tab that serves the network.")
LOG_LEVELS = ["debug", "info", "warning", "error"]
# Seconds `browsercouch peers` listens: mDNS answers come within a second on a LAN (RFC 6762 5.2: 20-120
# ms, then the first retry after one second), with room for one lost packet.
PEERS_TIMEOUT = 3.0
# Connections served at once by default: CouchDB's HTTP server (mochiweb) allows 2048.
MAX_CONNECTIONS = 2048
# The open-file limit the native server asks for (up to the hard limit): room for MAX_CONNECTIONS.
WANTED_FILES = 2 * MAX_CONNECTIONS
# Files kept back from connections for databases (each with its WAL and shared memory), the listener
# and the logs: a quarter of the file limit, at least this many.
MIN_FILE_RESERVE = 64


def build_parser():
    parser = argparse.ArgumentParser(prog="browsercouch", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"browsercouch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the CouchDB-compatible HTTP server",
        description="Serve the databases in --data (or in memory) over CouchDB's HTTP API until Ctrl-C or "
        "SIGTERM. On 127.0.0.1 without --admin every local client is an admin (CouchDB's admin party); any "
        "other address requires --admin. Requests must name the server in their Host header (127.0.0.1, "
        "localhost, the address connected to, or a --hostname): other names are refused, so that a web "
        "page cannot reach the server through DNS rebinding.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other address requires --admin)")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT,
                       help="port (default 5984; 0 picks a free one)")
    store = serve.add_mutually_exclusive_group()
    store.add_argument("--data", default=DEFAULT_DATA_DIR, metavar="DIR",
                       help=f"directory of the SQLite databases, kept private: 0700, files 0600 (default "
                       f"{DEFAULT_DATA_DIR})")
    store.add_argument("--memory", action="store_true", help="keep everything in memory")
    serve.add_argument("--admin", action="append", default=[], metavar="USER:PASS",
                       help="create or update a server admin (repeatable); stored hashed (PBKDF2)")
    serve.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                       help="allow cross-origin requests from ORIGIN (repeatable; * for any)")
    _hostname_argument(serve)
    serve.add_argument("--idle-timeout", type=float, default=DEFAULT_LIMITS.keepalive_timeout,
                       metavar="SECONDS",
                       help="close a connection that sends no request for this long, also before its first "
                       f"(default {DEFAULT_LIMITS.keepalive_timeout:g}, as CouchDB)")
    serve.add_argument("--header-timeout", type=float, default=DEFAULT_LIMITS.header_timeout,
                       metavar="SECONDS",
                       help="close a connection whose request head takes longer to arrive (default "
                       f"{DEFAULT_LIMITS.header_timeout:g})")
    serve.add_argument("--max-connections", type=int, metavar="N",
                       help="connections served at once; more are answered 503 (default "
                       f"{MAX_CONNECTIONS}, as CouchDB; at most 3/4 of the process's open-file limit, which "
                       f"serve raises to {WANTED_FILES} where the hard limit allows)")
    serve.add_argument("--announce", action="store_true",
                       help="announce the server on the LAN (DNS-SD over multicast DNS, _couchdb._tcp), so "
                       "that browsers and `browsercouch peers` find it; never on a loopback --host")
    serve.add_argument("--name", metavar="TEXT", help="the display name announced (default: browsercouch on "
                       "HOSTNAME)")
    serve.add_argument("--webrtc", metavar="ROOM@URL",
                       help="be a WebRTC peer of browsers: meet them in room ROOM of the rendezvous database "
                       "URL (http://[user:pass@]host:port/db); they reach this server at "
                       "http://UUID.webrtc/DB and it reaches them the same way (the webrtc extra: aiortc)")
    serve.add_argument("--webrtc-secret", metavar="SECRET",
                       help="the room's pairing secret (default: $BROWSERCOUCH_WEBRTC_SECRET)")
    serve.add_argument("--webrtc-address", action="append", default=None, metavar="ADDRESS",
                       help="offer this host address to WebRTC peers (repeatable; default: every "
                       "non-loopback one aiortc finds)")
    _log_level_argument(serve, "info logs each request")
    peers = commands.add_parser(
        "peers", help="list the browsercouch servers and browsers announced on the LAN",
        description="Browse the LAN for CouchDB servers announced with DNS-SD (_couchdb._tcp: browsercouch "
        "serve --announce, browsers serving with --lan) for --timeout seconds and list them.")
    peers.add_argument("--timeout", type=float, default=PEERS_TIMEOUT, metavar="SECONDS",
                       help=f"how long to listen (default {PEERS_TIMEOUT:g})")
    peers.add_argument("--json", action="store_true", help="print the peers as a JSON array")
    replicate = commands.add_parser(
        "replicate", help="copy what is new from SOURCE to TARGET",
        description="Replicate SOURCE to TARGET: each an http(s)://[user:pass@]host:port/db URL, or a local "
        "database name with --data.")
    replicate.add_argument("source", metavar="SOURCE",
                           help="where documents come from: an http(s)://[user:pass@]host:port/db URL, or a "
                           "database name in --data")
    replicate.add_argument("target", metavar="TARGET",
                           help="where they go: a URL or a database name in --data, as SOURCE")
    _replication_arguments(replicate)
    sync = commands.add_parser("sync", help="replicate A to B and B to A together",
                               description="Replicate A to B and B to A at the same time.")
    sync.add_argument("source", metavar="A",
                      help="one database: an http(s)://[user:pass@]host:port/db URL, or a name in --data")
    sync.add_argument("target", metavar="B", help="the other one, a URL or a name in --data, as A")
    _replication_arguments(sync)
    web = commands.add_parser(
        "web", help="serve the web app: browsercouch running inside the browser tab",
        description="Serve the web app's files (and its offline Pyodide) until Ctrl-C. Opened in a browser, "
        "the app runs browsercouch inside the tab and keeps its databases in the browser, not here.")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    web.add_argument("--port", type=_port, default=DEFAULT_WEB_PORT,
                     help=f"port (default {DEFAULT_WEB_PORT}; 0 picks a free one)")
    web.add_argument("--root", type=Path, default=bundled.WEB_APP_DIR,
                     help="the web app's directory (default: the one installed with browsercouch)")
    _log_level_argument(web, "info logs each request")
    _bridge_commands(commands)
    browser = commands.add_parser(
        "browser", help="serve from a browser: Chromium with the browsercouch extension",
        description="Start Chromium with the browsercouch extension serving its databases on --port; print "
        "the URL and keep running until Ctrl-C or SIGTERM (which close the browser). The tab serves as "
        "`serve` does: requests must name it in their Host header (127.0.0.1, localhost, the address "
        "connected to, or a --hostname), idle connections close after 60 s and a request head must "
        "arrive within 30 s.")
    browser.add_argument("--port", type=_port, default=DEFAULT_BROWSER_PORT,
                         help=f"port the browser serves on (default {DEFAULT_BROWSER_PORT})")
    browser.add_argument("--lan", action="store_true",
                         help="serve the LAN (0.0.0.0) instead of loopback; requires credentials")
    browser.add_argument("--admin", metavar="USER:PASS",
                         help="the admin LAN peers log in as (default: generated once per profile)")
    browser.add_argument("--name", metavar="TEXT",
                         help="the display name LAN peers see (default: Chromium on HOSTNAME)")
    browser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="DIR",
                         help=f"the Chromium profile directory (default {DEFAULT_PROFILE})")
    browser.add_argument("--headless", action="store_true",
                         help="run Chromium without a window (needed where there is no display)")
    _hostname_argument(browser)
    browser.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                         help="allow web pages of ORIGIN (scripts such as PouchDB) to call the server, "
                         "as CouchDB's [cors] (repeatable; * for any; default none)")
    _log_level_argument(browser, "the tab's requests show in the extension's popup at any level")
    commands.add_parser(
        "extension-path", help="print the folder of the browsercouch extension, unpacked",
        description="Print the folder of the browsercouch extension (it carries the web app and Pyodide), "
        "for a browser's \"Load unpacked\" (chrome://extensions, developer mode); then run "
        "`browsercouch install-bridge --browser NAME` so that it can serve.")
    extension_zip = commands.add_parser(
        "extension-zip", help="write the browsercouch extension as a zip file",
        description="Write the browsercouch extension as a zip file, manifest.json at its top.")
    extension_zip.add_argument("out", type=Path, metavar="OUT.zip")
    return parser


def _port(text):
    """An argparse type: a TCP port, 0-65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0-65535)")
    return port


def _hostname_argument(parser):
    parser.add_argument("--hostname", action="append", default=[], metavar="NAME",
                        help="a name clients reach the server by besides its addresses, as they send it in "
                        "the Host header (repeatable; any port). Requests naming other hosts are refused "
                        "(a guard against DNS rebinding)")


def _log_level_argument(parser, note=None):
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS,
                        help="how much to log on stderr (default warning" + (f"; {note})" if note else ")"))


# --- the socket bridge (browsercouch.bridge) ------------------------------------------------------------

def _bridge_commands(commands):
    bridge = commands.add_parser(
        "bridge", help="run the socket bridge (the browser runs it as a native messaging host)",
        description="Run the socket bridge on stdin/stdout (native messaging). The browser starts it as "
        "`python -m browsercouch.bridge ORIGIN` through the script `install-bridge` writes.")
    bridge.add_argument("origin", nargs="?", metavar="ORIGIN",
                        help="the calling extension's origin (chrome-extension://ID/); without it the "
                        "byte channel accepts any Origin that has the token")
    _log_level_argument(bridge, "logs go to stderr; stdout carries native messaging")
    install = commands.add_parser(
        "install-bridge", help="register the socket bridge with a browser (native messaging host manifest)",
        description="Write the native messaging host manifest that lets the browsercouch extension start the "
        "socket bridge, and the script it runs (this Python, this browsercouch). `browsercouch browser` "
        "does this for its own profile; run it for a browser you loaded the extension into by hand.")
    install.add_argument("--browser", default="chromium",
                         choices=["chromium", "chrome", "edge", "brave", "firefox"],
                         help="the browser to register with (default chromium)")
    install.add_argument("--user-data-dir", metavar="DIR",
                         help="a Chromium-family profile directory: install into DIR/NativeMessagingHosts")
    _log_level_argument(install)


def bridge_command(args):
    from .bridge import host

    return host.main([args.origin] if args.origin else [], log_level=args.log_level)


def browser_command(args):
    from . import launcher

    reason = launcher.missing_reason()
    if reason:
        raise SystemExit(f"browsercouch: cannot serve from a browser: {reason}")
    if args.admin is not None and parse_admin_spec(args.admin) is None:
        raise SystemExit(f"browsercouch: --admin expects USER:PASS, got {args.admin!r}")
    for origin in args.cors:
        if not launcher.is_origin(origin):
            raise SystemExit(f"browsercouch: --cors expects * or an origin (scheme://host[:port]), "
                             f"got {origin!r}")
    try:
        return launcher.launch(port=args.port, lan=args.lan, profile=args.profile, headless=args.headless,
                               admin=args.admin, cors=args.cors, hostnames=args.hostname, name=args.name)
    except RuntimeError as err:
        raise SystemExit(f"browsercouch: {err}") from None


def parse_admin_spec(spec):
    """``(user, password)`` of a ``USER:PASS`` argument, or ``None``."""
    user, sep, password = spec.partition(":")
    return (user, password) if sep and user and password else None


def install_bridge_command(args):
    from .bridge import install

    try:
        manifest, wrapper = install.install(args.browser, args.user_data_dir)
    except ValueError as err:
        raise SystemExit(f"browsercouch: {err}") from None
    print(f"wrote {manifest}")
    print(f"wrote {wrapper}")
    return 0


def _replication_arguments(parser):
    parser.add_argument("--data", metavar="DIR",
                        help="directory of the local databases (do not share it with a running server)")
    parser.add_argument("--continuous", action="store_true",
                        help="keep replicating new changes until stopped (Ctrl-C or SIGTERM)")
    parser.add_argument("--create-target", action="store_true", help="create the target database if missing")
    parser.add_argument("--doc-ids", metavar="ID,ID", help="replicate only these documents")
    parser.add_argument("--selector", metavar="JSON", help="only documents matching a Mango selector")
    parser.add_argument("--filter", metavar="DDOC/NAME", help="a filter function of the source (remote only)")
    parser.add_argument("--query-params", metavar="JSON", help="parameters for --filter (a JSON object)")
    parser.add_argument("--since", metavar="SEQ", help="start after this source sequence (no checkpoint yet)")
    parser.add_argument("--json", action="store_true", help="print the final history record as JSON")
    _log_level_argument(parser, "warning shows documents the target refused")


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
        if parse_admin_spec(spec) is None:
            raise SystemExit(f"browsercouch: --admin expects USER:PASS, got {spec!r}")
        name, password = parse_admin_spec(spec)
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
        sock.close()
        reason = err.strerror or str(err)
        raise SystemExit(f"browsercouch: cannot listen on {host}:{port}: {reason}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _open_couch(data_dir):
    """The server's ``Couch`` on ``data_dir`` (``None``: in memory); a one-line exit when it cannot be."""
    if data_dir is not None and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise SystemExit(f"browsercouch: --data {data_dir} is not a directory")
    # Imported here: mini-racer is a native wheel, and this module is imported inside Pyodide too (tests).
    from .jsengine import MiniRacerEngine

    try:
        return Couch(data_dir, js_engine=MiniRacerEngine())
    except OSError as err:
        raise SystemExit(f"browsercouch: cannot use --data {data_dir}: {err.strerror or err}") from None
    except ValueError as err:  # a damaged _config.json
        raise SystemExit(f"browsercouch: cannot read the settings in --data {data_dir}: {err}") from None


def _file_limit():
    """The process's open-file limit, first raised towards ``WANTED_FILES`` (as far as the hard limit
    allows); ``None`` where there is no such limit to read (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_FILES if hard == resource.RLIM_INFINITY else min(hard, WANTED_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def connection_cap(requested=None):
    """How many connections to serve at once: ``requested``, else ``MAX_CONNECTIONS``, and never so many
    that connections alone reach the file limit (a quarter of it is kept for databases and the rest)."""
    files = _file_limit()
    allowed = None if files is None else files - max(MIN_FILE_RESERVE, files // 4)
    if requested is None:
        return MAX_CONNECTIONS if allowed is None else max(1, min(MAX_CONNECTIONS, allowed))
    if requested < 1:
        raise SystemExit(f"browsercouch: --max-connections must be at least 1, got {requested}")
    if allowed is not None and requested > allowed:
        raise SystemExit(f"browsercouch: --max-connections {requested} is more than the file limit ({files}) "
                         f"leaves room for: at most {allowed}")
    return requested


def _limits(args):
    for name in ("idle_timeout", "header_timeout"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"browsercouch: --{name.replace('_', '-')} must be more than 0 seconds")
    return Limits(keepalive_timeout=args.idle_timeout, header_timeout=args.header_timeout)


def serve(args):
    limits, max_connections = _limits(args), connection_cap(args.max_connections)
    couch = _open_couch(None if args.memory else args.data)
    admins = _set_admins(couch, args.admin)
    if not admins and not _is_loopback(args.host):
        raise SystemExit(
            f"browsercouch: refusing to serve {args.host} without credentials: anyone on the network could "
            "read and change every database. Add --admin USER:PASS, or bind 127.0.0.1.")
    webrtc = _webrtc_peer(args)
    app = CouchApp(couch, admins=admins, cors_origins=args.cors, pbkdf2=ThreadedPbkdf2(),
                   **({} if webrtc is None else {"http_client": webrtc[1]}))
    sock = _bind(args.host, args.port)

    announce = _announcer(args, couch, bool(admins), sock)
    if webrtc is not None:
        announce = _both(announce, _in_room(args, app, couch, webrtc[0]))

    def ready():
        print(f"browsercouch listening on {_url(sock)}", flush=True)
        if not admins:
            print("browsercouch: no admin configured; every local client is an admin (admin party)",
                  file=sys.stderr, flush=True)

    served = AccessLog(TrustedHosts(app, args.hostname))
    return _run(_serve(served, sock, limits, max_connections, ready, announce))


def _announcer(args, couch, auth, sock):
    """``serve --announce``: an async context manager announcing the server on the LAN while it serves
    (``None`` without ``--announce``; a note on stderr, and ``None``, for a loopback bind)."""
    if not args.announce:
        return None
    from . import discovery

    reason = discovery.announce_reason(args.host)
    if reason:
        print(f"browsercouch: not announcing on the LAN: {reason} (serve --host 0.0.0.0 or a LAN address "
              "to be found)", file=sys.stderr, flush=True)
        return None
    host, port = sock.getsockname()[:2]

    @contextlib.asynccontextmanager
    async def announced():
        found = discovery.Discovery()
        try:
            addresses = None if host in ("0.0.0.0", "::") else [host]
            instance = await found.announce(uuid=couch.uuid, name=args.name, port=port, kind="server",
                                            auth=auth, addresses=addresses)
            print(f"browsercouch: announced on the LAN as {instance!r} ({discovery.SERVICE_TYPE})",
                  file=sys.stderr, flush=True)
            yield
        finally:
            await found.close()

    return announced()


def _webrtc_peer(args):
    """``serve --webrtc``: ``(links, http_client)`` from ``webrtc.peer_router()``, or ``None`` without it."""
    if args.webrtc is None:
        return None
    room, at, url = args.webrtc.partition("@")
    if not (room and at and url.startswith(("http://", "https://"))):
        raise SystemExit("browsercouch: --webrtc takes ROOM@URL, e.g. kitchen@http://127.0.0.1:5984/rendezvous")
    args.webrtc_secret = args.webrtc_secret or os.environ.get("BROWSERCOUCH_WEBRTC_SECRET")
    if not args.webrtc_secret:
        raise SystemExit("browsercouch: --webrtc needs the room's pairing secret: --webrtc-secret SECRET or "
                         "$BROWSERCOUCH_WEBRTC_SECRET")
    from . import webrtc

    if webrtc.missing_reason():
        raise SystemExit(f"browsercouch: --webrtc {webrtc.missing_reason()}")
    return webrtc.peer_router(tcp_client())


@contextlib.asynccontextmanager
async def _in_room(args, app, couch, links):
    """``serve --webrtc``: in the room while serving; every link closed at the end."""
    from . import webrtc

    room_name, _, url = args.webrtc.partition("@")
    peers = webrtc.NativePeers(app, couch.uuid, links, addresses=args.webrtc_address)
    room = peers.join_room(url, room_name, args.webrtc_secret)
    print(f"browsercouch: WebRTC peer {couch.uuid} in room {room_name!r}", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        await room.stop()
        await peers.close()


@contextlib.asynccontextmanager
async def _both(first, second):
    async with (first or contextlib.nullcontext()), second:
        yield


def peers_command(args):
    from . import discovery

    if args.timeout <= 0:
        raise SystemExit("browsercouch: --timeout must be more than 0 seconds")
    found = asyncio.run(discovery.browse(args.timeout))
    if args.json:
        print(json.dumps([peer.to_json() for peer in found], indent=2))
        return 0
    if not found:
        print(f"no peers announced on the LAN within {args.timeout:g} s ({discovery.SERVICE_TYPE})")
        return 0
    rows = [("NAME", "KIND", "URL", "LOGIN", "UUID")]
    rows += [(peer.name, peer.kind, peer.url or "-", "yes" if peer.auth else "no", peer.uuid or "-")
             for peer in found]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    return 0


def web(args):
    """Serve the web app's static files. The databases live in the browser, not here."""
    if args.root == bundled.WEB_APP_DIR and bundled.missing_reason():
        raise SystemExit(f"browsercouch: {bundled.missing_reason()}")
    if not (args.root / "dist" / "pyodide.mjs").is_file():
        raise SystemExit(f"browsercouch: {args.root / 'dist'} is not built: run `python build.py` first")
    sock = _bind(args.host, args.port)

    def ready():
        print(f"browsercouch web app listening on {_url(sock)}", flush=True)

    return _run(_serve(AccessLog(StaticFiles(args.root)), sock, DEFAULT_LIMITS, connection_cap(), ready))


def _url(sock):
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def _serve(app, sock, limits, max_connections, ready, announced=None):
    """Serve ``app`` on ``sock`` (with its ASGI lifespan), calling ``ready()`` once it serves, within
    ``announced`` (an async context manager, or ``None``), until cancelled (Ctrl-C, SIGTERM); return 0."""
    try:
        async with lifespan(app), (announced or contextlib.nullcontext()):
            server = await start_server(app, sock=sock, limits=limits, max_connections=max_connections)
            ready()
            try:
                await asyncio.get_running_loop().create_future()  # until cancelled
            finally:
                await server.shutdown()
    except asyncio.CancelledError:
        pass
    return 0


def _run(main):
    """``asyncio.run(main)``, where SIGTERM cancels ``main`` as Ctrl-C does, so that it ends cleanly.

    Ctrl-C needs nothing here: ``asyncio.run`` cancels ``main`` on SIGINT, unless the process started
    with SIGINT ignored (a shell's background job), which it then leaves ignored, as it should.
    """

    async def cancelled_by_sigterm():
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        return await main

    return asyncio.run(cancelled_by_sigterm() if hasattr(signal, "SIGTERM") else main)


# --- replicate and sync -------------------------------------------------------------------------------

# Replication options whose name differs from their flag's, as the replicator's messages name them.
_OPTION_NAMES = re.compile(r"\b(?:create_target|doc_ids|query_params)\b")
# The progress line is redrawn at most this often (seconds).
PROGRESS_INTERVAL = 0.1
PROGRESS_WIDTH = 24


def _json_argument(text, name, kind):
    try:
        value = json.loads(text)
    except ValueError:
        raise SystemExit(f"browsercouch: {name} is not valid JSON") from None
    if not isinstance(value, kind):
        raise SystemExit(f"browsercouch: {name} must be a JSON {kind.__name__.replace('dict', 'object')}")
    return value


def _replication_options(args):
    values = {"continuous": args.continuous, "create_target": args.create_target}
    if args.doc_ids is not None:
        values["doc_ids"] = [doc_id for doc_id in args.doc_ids.split(",") if doc_id]
    if args.selector is not None:
        values["selector"] = _json_argument(args.selector, "--selector", dict)
    if args.filter is not None:
        values["filter"] = args.filter
    if args.query_params is not None:
        values["query_params"] = _json_argument(args.query_params, "--query-params", dict)
    if args.since is not None:
        values["since"] = int(args.since) if args.since.isdigit() else args.since
    try:
        return ReplicationOptions(**values)
    except CouchError as err:
        raise SystemExit(f"browsercouch: {err.reason}") from None


class _Progress:
    """A one-line progress display on a terminal: docs read / written / pending, per job."""

    def __init__(self, jobs, out):
        self.jobs = jobs
        self.out = out
        self.shown = 0.0

    def update(self, _job=None, *, force=False):
        now = time.monotonic()
        if not force and now - self.shown < PROGRESS_INTERVAL:
            return
        self.shown = now
        self.out.write("\r\x1b[K" + "  ".join(self._line(job) for job in self.jobs))
        self.out.flush()

    @staticmethod
    def _line(job):
        stats = job.stats
        pending = stats.changes_pending or 0
        total = stats.docs_read + pending
        filled = PROGRESS_WIDTH if total == 0 else round(PROGRESS_WIDTH * stats.docs_read / total)
        bar = "#" * filled + "-" * (PROGRESS_WIDTH - filled)
        return (f"[{bar}] read {stats.docs_read} written {stats.docs_written} pending {pending}"
                f"{' (retrying)' if job.state == 'crashing' else ''}")

    def finish(self):
        self.update(force=True)
        self.out.write("\n")
        self.out.flush()


def _summary(job, seconds):
    stats = job.stats
    return (f"{job.source.name} -> {job.target.name}: {job.state}, {stats.docs_read} docs read, "
            f"{stats.docs_written} written, {stats.doc_write_failures} failed, in {seconds:.1f} s")


async def _run_replications(args, pairs):
    """Run one job per ``(source, target)`` pair together; return the exit status."""
    options = _replication_options(args)
    couch = _open_couch(args.data) if args.data else None
    client = tcp_client()
    try:
        jobs = [Replication(open_endpoint(source, couch=couch, client=client),
                            open_endpoint(target, couch=couch, client=client), options)
                for source, target in pairs]
    except CouchError as err:
        await client.close()
        raise SystemExit(f"browsercouch: {err.reason}") from None
    progress = _Progress(jobs, sys.stderr) if sys.stderr.isatty() and not args.json else None
    started = time.monotonic()
    try:
        for job in jobs:
            job.on_change = progress.update if progress else None
            job.start()
        await asyncio.gather(*(job.wait() for job in jobs), return_exceptions=True)
    except asyncio.CancelledError:  # Ctrl-C: stop the jobs, then report as usual
        for job in jobs:
            job.cancel()
        await asyncio.gather(*(job.wait() for job in jobs), return_exceptions=True)
    finally:
        await client.close()
        if couch is not None:
            couch.close()
    return _report(args, jobs, progress, time.monotonic() - started)


def _report(args, jobs, progress, seconds):
    if progress is not None:
        progress.finish()
    if args.json:
        records = [job.result for job in jobs]
        shown = records[0] if len(records) == 1 else {"push": records[0], "pull": records[1]}
        print(json.dumps(shown, indent=1))
    else:
        for job in jobs:
            print(_summary(job, seconds))
    failed = [job for job in jobs if job.state == "failed"]
    for job in failed:
        print(f"browsercouch: replication failed: {_as_flags(job.error)}", file=sys.stderr)
    return 1 if failed else 0


def _as_flags(text):
    """The replicator names its options as ``POST /_replicate`` does (``create_target``); here they are
    the command's flags (``--create-target``)."""
    return _OPTION_NAMES.sub(lambda match: "--" + match.group(0).replace("_", "-"), text)


def replicate_command(args):
    pairs = [(args.source, args.target)]
    if args.command == "sync":
        pairs.append((args.target, args.source))
    return _run(_run_replications(args, pairs))


# --- the extension, for other browsers -----------------------------------------------------------------

def _bundled_extension():
    reason = bundled.missing_reason()
    if reason:
        raise SystemExit(f"browsercouch: {reason}")
    return bundled.EXTENSION_DIR


def extension_path_command(args):
    print(_bundled_extension())
    return 0


def extension_zip_command(args):
    count = bundled.write_extension_zip(args.out, _bundled_extension())
    print(f"wrote {args.out} ({count} files, {args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


COMMANDS = {
    "serve": serve, "web": web, "replicate": replicate_command, "sync": replicate_command,
    "browser": browser_command, "bridge": bridge_command, "install-bridge": install_bridge_command,
    "extension-path": extension_path_command, "extension-zip": extension_zip_command, "peers": peers_command,
}


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, getattr(args, "log_level", "warning").upper()))
    sys.exit(COMMANDS[args.command](args))
