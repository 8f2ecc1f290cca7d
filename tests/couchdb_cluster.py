"""A two-node Apache CouchDB 3.4.3 cluster on loopback, from the shared release, joined the way CouchDB's
documentation does it: ``POST /_cluster_setup`` with ``enable_cluster`` (the coordinator, then the other
node through it), ``add_node`` and ``finish_cluster``.

The release's ``start.sh`` starts single nodes only (``single_node = true``, distribution on a random port
nobody can reach), so the nodes here get their own ``vm.args`` and ``local.ini`` over the same unpacked
release (``$COUCHDB_HOME``, default ``$TMPDIR/couchdb-3.4.3``, unpacked by ``start.sh`` or here):

- Node *i* is ``couchdb@127.0.0.(i+2)``: one address of the loopback network each, so both can use the same
  distribution port. With ``-start_epmd false -erl_epmd_port PORT`` Erlang needs no epmd at all: a node
  listens on PORT of its own address (``inet_dist_use_interface``) and reaches any other node on PORT of
  that node's address. Nothing listens beyond 127.0.0.0/8 and no epmd daemon is left behind.
- A node starts as freshly installed: HTTP on 127.0.0.1 and a port of its own, ``single_node = false``, the
  admin. ``enable_cluster`` moves its HTTP listener to its own address (CouchDB will not cluster a node
  bound to 127.0.0.1) and sets ``n`` to the node count.
- Shared, as the documentation asks: the Erlang cookie, ``[couchdb] uuid`` and ``[chttpd_auth] secret``
  (``finish_cluster`` copies the last two to every node, and fails when the secret is unset).

``cluster_missing_reason()`` says why a cluster cannot be formed here (the release is absent, or 127.0.0.2
and 127.0.0.3 cannot be bound, as on macOS by default); ``start_cluster(workdir)`` returns a running
``CouchDBCluster``, whose ``stop()`` ends every process it started.
"""

import contextlib
import http.client as http_client
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

from helpers import (
    COUCHDB_ADMIN,
    COUCHDB_RELEASE,
    RUNNING,
    START_TIMEOUT,
    STOP_TIMEOUT,
    couchdb_missing_reason,
    free_port,
    http,
)

NODE_ADDRESSES = ("127.0.0.2", "127.0.0.3")
NODE_NAME = "couchdb"
# Where start.sh unpacks the release; a cluster reuses it.
COUCHDB_HOME = Path(os.environ.get("COUCHDB_HOME")
                    or Path(os.environ.get("TMPDIR") or "/tmp") / "couchdb-3.4.3")
# Tries at finding a distribution port free on every node address (another process may hold it on one).
PORT_ATTEMPTS = 20
# finish_cluster waits for the nodes to connect; the _nodes database then reaches the other node.
SETUP_TIMEOUT = 30.0
# A listening socket's state in /proc/net/tcp (TCP_LISTEN).
LISTEN_STATE = "0A"


def cluster_missing_reason():
    """Why a two-node cluster cannot be formed here, or ``None`` when it can."""
    reason = couchdb_missing_reason()
    if reason:
        return reason
    for address in NODE_ADDRESSES:
        try:
            with socket.socket() as sock:
                sock.bind((address, 0))
        except OSError as err:
            return f"cannot bind the loopback address {address} ({err}): one node per address is needed"
    return None


class ClusterNode:
    """One node: ``name`` (``couchdb@ADDRESS``), ``url`` (admin credentials in it, trailing slash; on
    127.0.0.1 until ``enable_cluster`` moves it to ``address``), ``pid``, ``stop()``, ``log()``."""

    def __init__(self, address, port, data_dir):
        self.address, self.port, self.data_dir = address, port, Path(data_dir)
        self.name = f"{NODE_NAME}@{address}"
        self.host = "127.0.0.1"
        self.proc = None

    @property
    def url(self):
        return f"http://{':'.join(COUCHDB_ADMIN)}@{self.host}:{self.port}/"

    @property
    def pid(self):
        return self.proc.pid

    def start(self, release, dist_port, shared):
        """Write this node's ``vm.args`` and ``local.ini`` and start it; returns once ``/_up`` answers."""
        etc = self.data_dir / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        (etc / "vm.args").write_text(self._vm_args(release, dist_port, shared["cookie"]))
        (etc / "local.ini").write_text(self._local_ini(shared))
        env = dict(os.environ, COUCHDB_ARGS_FILE=str(etc / "vm.args"),
                   COUCHDB_INI_FILES=f"{release / 'etc' / 'default.ini'} {etc / 'local.ini'}")
        with open(self.data_dir / "couchdb.stdout", "wb") as out:
            self.proc = subprocess.Popen([str(release / "bin" / "couchdb")], env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.wait_up()
        return self

    def _vm_args(self, release, dist_port, cookie):
        """The release's vm.args with this node's name and address, the cluster's cookie, and no epmd."""
        lines = []
        for line in (release / "etc" / "vm.args").read_text().splitlines():
            if line.startswith("-name "):
                line = f"-name {self.name}"
            elif line.startswith("-kernel inet_dist_use_interface "):
                line = f"-kernel inet_dist_use_interface {{{self.address.replace('.', ',')}}}"
            lines.append(line)
        lines += [f"-setcookie {cookie}", "-start_epmd false", f"-erl_epmd_port {dist_port}"]
        return "\n".join(lines) + "\n"

    def _local_ini(self, shared):
        user, password = COUCHDB_ADMIN
        return (f"[couchdb]\nsingle_node = false\ndatabase_dir = {self.data_dir / 'data'}\n"
                f"view_index_dir = {self.data_dir / 'data'}\nuuid = {shared['uuid']}\n\n"
                f"[chttpd]\nport = {self.port}\nbind_address = 127.0.0.1\n\n"
                f"[chttpd_auth]\nsecret = {shared['secret']}\n\n"
                f"[log]\nwriter = file\nfile = {self.data_dir / 'couchdb.log'}\nlevel = info\n\n"
                f"[admins]\n{user} = {password}\n")

    def wait_up(self, timeout=START_TIMEOUT):
        """Wait until ``GET /_up`` answers 200 on the node's current URL; raises ``RuntimeError``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if http("GET", self.url + "_up", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer GET {self.url}_up within {timeout} s:\n{self.log()}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self, limit=5_000):
        paths = (self.data_dir / "couchdb.stdout", self.data_dir / "couchdb.log")
        return "\n".join(path.read_text(errors="replace")[-limit:] for path in paths if path.exists())


class CouchDBCluster:
    """Running nodes joined in one cluster: ``nodes`` (``ClusterNode``), ``url`` (the first node's),
    ``stop()``, ``log()``."""

    def __init__(self, nodes):
        self.nodes = nodes

    @property
    def url(self):
        return self.nodes[0].url

    def stop(self):
        for node in self.nodes:
            node.stop()
        RUNNING.pop(self.url, None)

    def log(self, limit=5_000):
        return "\n".join(f"--- {node.name} ---\n{node.log(limit)}" for node in self.nodes)

    output = log


def start_cluster(workdir):
    """Start the nodes of ``NODE_ADDRESSES`` with their state under ``workdir`` and join them; returns a
    ``CouchDBCluster`` whose membership lists every node on every node. Raises ``RuntimeError`` (with the
    nodes' logs) when that fails, after stopping what it started."""
    reason = cluster_missing_reason()
    if reason:
        raise RuntimeError(reason)
    release = _unpacked_release()
    shared = {"cookie": secrets.token_hex(16), "uuid": secrets.token_hex(16), "secret": secrets.token_hex(16)}
    dist_port = _port_free_on_all(NODE_ADDRESSES)
    nodes = [ClusterNode(address, free_port(), Path(workdir) / address) for address in NODE_ADDRESSES]
    cluster = CouchDBCluster(nodes)
    try:
        for node in nodes:
            node.start(release, dist_port, shared)
        _join(nodes)
    except (RuntimeError, OSError, AssertionError) as err:
        cluster.stop()
        raise RuntimeError(f"the cluster did not form: {err}\n{cluster.log()}") from err
    RUNNING[cluster.url] = cluster
    return cluster


def _unpacked_release():
    """The release directory under ``COUCHDB_HOME``, unpacked from the shared tarball if start.sh has not
    done it yet."""
    release = COUCHDB_HOME / "couchdb"
    if not (release / "bin" / "couchdb").exists():
        tarball = next(COUCHDB_RELEASE.glob("couchdb-3.4.3-*.tar.gz"))
        COUCHDB_HOME.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "xzf", str(tarball), "-C", str(COUCHDB_HOME)], check=True)
    return release


def _port_free_on_all(addresses):
    for _ in range(PORT_ATTEMPTS):
        with socket.socket() as first:
            first.bind((addresses[0], 0))
            port = first.getsockname()[1]
            if all(_bindable(address, port) for address in addresses[1:]):
                return port
    raise RuntimeError(f"no port free on all of {addresses} in {PORT_ATTEMPTS} tries")


def _bindable(address, port):
    try:
        with socket.socket() as sock:
            sock.bind((address, port))
        return True
    except OSError:
        return False


def _join(nodes):
    """``_cluster_setup`` as documented, all sent to the coordinator (the first node)."""
    coordinator, others = nodes[0], nodes[1:]
    user, password = COUCHDB_ADMIN
    admin = {"username": user, "password": password, "node_count": len(nodes)}
    _enable(coordinator, coordinator, {**admin, "bind_address": coordinator.address})
    for node in others:
        _enable(coordinator, node, {**admin, "bind_address": node.address, "port": node.port,
                                    "remote_node": node.host, "remote_current_user": user,
                                    "remote_current_password": password})
        _setup(coordinator, {"action": "add_node", "host": node.address, "port": node.port,
                             "name": NODE_NAME, "username": user, "password": password})
    _setup(coordinator, {"action": "finish_cluster"})
    _wait_for_membership(nodes)


def _enable(coordinator, node, options):
    """``enable_cluster`` for ``node``: its HTTP listener moves to its own address. The listener restarts
    right after the change, which may cut this very answer off (and the coordinator ignores the remote
    node's answer), so success is its ``/_up`` and ``cluster_enabled`` state at the new address."""
    try:
        _setup(coordinator, {"action": "enable_cluster", **options})
    except (OSError, http_client.HTTPException):
        pass
    node.host = node.address
    node.wait_up()
    status, _, state = http("GET", node.url + "_cluster_setup")
    assert status == 200 and state.get("state") == "cluster_enabled", (node.name, status, state)


def _setup(coordinator, body):
    status, _, answer = http("POST", coordinator.url + "_cluster_setup", body)
    assert status == 201, (body["action"], status, answer)


def _wait_for_membership(nodes):
    names = sorted(node.name for node in nodes)
    deadline = time.monotonic() + SETUP_TIMEOUT
    while True:
        seen = [http("GET", node.url + "_membership")[2] for node in nodes]
        if all(sorted(m["all_nodes"]) == names and sorted(m["cluster_nodes"]) == names for m in seen):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"membership is not {names} on every node: {seen}")
        time.sleep(0.2)


def listening_addresses(pid):
    """``[(address, port)]`` of the TCP sockets process ``pid`` listens on, from Linux's /proc (the release
    is a Linux build): the socket inodes among its open files, looked up in /proc/net/tcp and tcp6."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN_STATE and fields[9] in inodes:
                found.append(_address(fields[1], family))
    return found


def _address(hex_address, family):
    """``0100007F:1F90`` (32-bit words in host order, little-endian here) as ``("127.0.0.1", 8080)``."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, packed), int(port, 16)
