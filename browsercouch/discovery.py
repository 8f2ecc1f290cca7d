"""Finding browsercouch on the LAN: DNS-SD over multicast DNS (RFC 6763 over RFC 6762), with ``zeroconf``.

A server on the LAN (``browsercouch serve --announce``, or the socket bridge of a browser serving with
``--lan``) registers one service of type ``_couchdb._tcp.local.``: its instance name is the display name
and the first 8 characters of the server's uuid (unique even when two browsers on one machine share a
display name), its SRV record the port, its A records the machine's LAN addresses, and its TXT record:

    uuid=<the server's uuid>   name=<display name>   kind=browser|server
    auth=1|0 (whether peers must log in)   v=1 (this protocol's version)

Peers browse the same type; ``Discovery.peers()`` is what was found, without the caller itself (same
uuid). A service whose TXT lacks ``uuid`` (another CouchDB announcing ``_couchdb._tcp``) is listed with
``kind="couchdb"``.

Native only: zeroconf opens multicast sockets and the core layers never import this module (nor does
Pyodide, where it is not installed). Loopback-only servers never announce: nothing off this machine
could use the address (``announce_reason``).
"""

import asyncio
import dataclasses
import ipaddress
import socket

from zeroconf import IPVersion, ServiceStateChange, get_all_addresses
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

__all__ = ["Discovery", "Peer", "SERVICE_TYPE", "PROTOCOL_VERSION", "announce_reason", "browse",
           "lan_addresses"]

SERVICE_TYPE = "_couchdb._tcp.local."
PROTOCOL_VERSION = "1"
# How long resolving one found service (its SRV, TXT and A records) may take, in milliseconds.
RESOLVE_TIMEOUT_MS = 3000
KINDS = ("browser", "server")


@dataclasses.dataclass(frozen=True)
class Peer:
    """One service found: ``url`` is its first address's base URL."""

    instance: str
    name: str
    uuid: str | None
    kind: str
    auth: bool
    version: str | None
    addresses: tuple
    port: int

    @property
    def url(self):
        return f"http://{self.addresses[0]}:{self.port}/" if self.addresses else None

    def to_json(self):
        return {**dataclasses.asdict(self), "addresses": list(self.addresses), "url": self.url}


def default_name(kind):
    return f"{'Chromium' if kind == 'browser' else 'browsercouch'} on {socket.gethostname()}"


def lan_addresses():
    """This machine's IPv4 addresses other than loopback (no DNS, no traffic)."""
    return [address for address in get_all_addresses() if not ipaddress.ip_address(address).is_loopback]


def announce_reason(host):
    """Why a server bound to ``host`` must not announce itself (loopback only), or ``None``."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return f"it serves {host} only, which no other machine can reach"
    return None


def _txt(properties, key):
    value = properties.get(key.encode())
    return value.decode("utf-8", "replace") if value is not None else None


def _peer(info):
    properties = info.properties or {}
    uuid = _txt(properties, "uuid")
    kind = _txt(properties, "kind") if uuid else "couchdb"
    instance = info.name.removesuffix("." + SERVICE_TYPE)
    return Peer(instance=instance, name=_txt(properties, "name") or instance, uuid=uuid,
                kind=kind if kind in (*KINDS, "couchdb") else "server", auth=_txt(properties, "auth") != "0",
                version=_txt(properties, "v"), addresses=tuple(info.parsed_addresses(IPVersion.V4Only)),
                port=info.port)


class Discovery:
    """Announce this server (``announce``) and browse for others (``browse``) on every IPv4 interface.

    ``on_change(peers)`` is called (on the event loop) whenever the list of peers changes. Use within
    one running event loop; ``close()`` withdraws the announcement (a goodbye packet) and stops browsing.
    """

    def __init__(self, own_uuid=None, on_change=None):
        self.own_uuid = own_uuid
        self.on_change = on_change
        self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        self._browser = None
        self._announced = None
        self._peers = {}
        self._tasks = set()

    async def announce(self, *, uuid, port, kind, auth, name=None, addresses=None):
        """Register this server; returns the instance name. ``addresses``: default all LAN addresses."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        name = name or default_name(kind)
        self.own_uuid = uuid
        instance = f"{name[:50]} ({uuid[:8]})"
        properties = {"uuid": uuid, "name": name, "kind": kind, "auth": "1" if auth else "0",
                      "v": PROTOCOL_VERSION}
        addresses = addresses or lan_addresses()
        info = AsyncServiceInfo(SERVICE_TYPE, f"{instance}.{SERVICE_TYPE}", port=port, properties=properties,
                                parsed_addresses=addresses, server=f"bc-{uuid[:12]}.local.")
        if self._announced is not None:
            await self._zc.async_unregister_service(self._announced)
        await self._zc.async_register_service(info, allow_name_change=True)
        self._announced = info
        return instance

    def browse(self):
        """Start browsing (at once; results come through ``on_change`` and ``peers()``)."""
        if self._browser is None:
            self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE_TYPE, handlers=[self._changed])

    def peers(self):
        """The peers found so far (not this server), sorted by name."""
        others = (peer for peer in self._peers.values() if peer.uuid is None or peer.uuid != self.own_uuid)
        return sorted(others, key=lambda peer: (peer.name, peer.instance))

    async def close(self):
        for task in list(self._tasks):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._announced is not None:
            await self._zc.async_unregister_all_services()
        await self._zc.async_close()

    def _changed(self, zeroconf, service_type, name, state_change):
        if state_change is ServiceStateChange.Removed:
            if self._peers.pop(name, None) is not None:
                self._notify()
            return
        task = asyncio.get_running_loop().create_task(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name):
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS) or not info.port:
            return
        peer = _peer(info)
        if self._peers.get(name) != peer:
            self._peers[name] = peer
            self._notify()

    def _notify(self):
        if self.on_change is not None:
            self.on_change(self.peers())


async def browse(seconds, settle=None):
    """The peers seen within ``seconds`` (``settle``: stop as soon as this many are found)."""
    found = asyncio.Event()
    discovery = Discovery(on_change=lambda peers: settle is not None and len(peers) >= settle and found.set())
    try:
        discovery.browse()
        try:
            await asyncio.wait_for(found.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        return discovery.peers()
    finally:
        await discovery.close()
