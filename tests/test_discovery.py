"""LAN discovery (``browsercouch.discovery``): DNS-SD over multicast DNS, ``_couchdb._tcp``.

Loopback serving never announces (``serve --announce`` on 127.0.0.1 says so; the bridge answers an
``announce`` with the reason). On a LAN of two network namespaces joined by a veth pair (root only,
``tests/lan.py``): ``serve --announce`` in one is listed by ``browsercouch peers`` in the other, with its
uuid, display name, URL and whether it needs a login, and is gone once it stops (its goodbye packet); two
bridges, each in a namespace and announcing, are each told about the other, unasked. No multicast is
ever sent outside the namespaces the tests create.
"""

import json
import subprocess
import sys
import time

import lan
import pytest
from bridge.harness import BRIDGE, BridgeProcess
from helpers import REPO, free_port, http, start_browsercouch

from browsercouch import discovery, launcher

pytestmark = pytest.mark.native

LAN_MISSING = lan.missing_reason()
needs_lan = pytest.mark.skipif(LAN_MISSING is not None, reason=LAN_MISSING or "")
BROWSERCOUCH = (sys.executable, "-m", "browsercouch")
# Seconds an announcement may take to be seen on the veth (mDNS answers within a second).
SEEN_WITHIN = 10.0


def test_only_a_lan_bind_announces():
    assert discovery.announce_reason("127.0.0.1") and discovery.announce_reason("localhost")
    assert discovery.announce_reason("::1")
    assert discovery.announce_reason("0.0.0.0") is None and discovery.announce_reason("10.200.0.1") is None


def test_serve_announce_on_loopback_says_it_does_not():
    server = start_browsercouch("--announce")
    try:
        assert http("GET", server.url)[0] == 200
        deadline = time.monotonic() + 5
        while "not announcing on the LAN" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        assert "127.0.0.1 only" in server.output()
    finally:
        server.stop()


def test_a_bridge_on_loopback_does_not_announce():
    bridge = BridgeProcess()
    try:
        assert bridge.request({"type": "announce", "uuid": "u" * 32})["error"] == "not_listening"
        bridge.listen()
        answer = bridge.request({"type": "announce", "uuid": "u" * 32, "name": "here"})
        assert answer["type"] == "announced" and answer["instance"] is None, answer
        assert "127.0.0.1 only" in answer["reason"]
        assert bridge.request({"type": "peers"}) == {"type": "peers", "peers": []}
    finally:
        assert bridge.stop() == 0


@needs_lan
def test_peers_lists_a_server_announced_in_the_other_namespace():
    with lan.lan() as net:
        port = free_port()
        command = ["ip", "netns", "exec", net.names[0], *BROWSERCOUCH, "serve", "--memory",
                   "--host", "0.0.0.0", "--port", str(port), "--admin", "a:b", "--announce",
                   "--name", "Kitchen"]
        server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            assert server.stdout.readline().startswith("browsercouch listening on"), server.stderr.read()
            found = _peers(net, 1, until=lambda peers: peers)
            assert len(found) == 1, found
            peer = found[0]
            assert peer["name"] == "Kitchen" and peer["kind"] == "server" and peer["auth"] is True
            assert peer["url"] == f"http://{net.addresses[0]}:{port}/" and len(peer["uuid"]) == 32
            assert peer["version"] == discovery.PROTOCOL_VERSION
            assert "Kitchen" in net.run(1, *BROWSERCOUCH, "peers", "--timeout", "2").stdout
        finally:
            server.terminate()
            server.wait(10)
        assert _peers(net, 1, until=lambda peers: not peers) == []  # its goodbye


@needs_lan
@pytest.mark.chromium
@pytest.mark.skipif(launcher.missing_reason() is not None, reason=launcher.missing_reason() or "")
def test_browsercouch_browser_on_the_lan_is_announced_under_its_name():
    """``browsercouch browser --lan --headless --name Carol`` in one namespace: ``peers`` in the other
    lists Carol, a browser that needs a login, at her LAN address."""
    with lan.lan() as net:
        port = free_port()
        command = ["ip", "netns", "exec", net.names[0], *BROWSERCOUCH, "browser", "--lan", "--headless",
                   "--name", "Carol", "--port", str(port), "--profile", str(net.workdir / "carol")]
        browser = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True)
        try:
            assert browser.stdout.readline().startswith("browsercouch browser listening on")
            found = _peers(net, 1, until=lambda peers: peers, timeout=2 * SEEN_WITHIN)
            assert [(peer["name"], peer["kind"], peer["auth"], peer["url"]) for peer in found] == [
                ("Carol", "browser", True, f"http://{net.addresses[0]}:{port}/")], found
        finally:
            browser.terminate()
            browser.wait(30)


def _peers(net, index, until, timeout=SEEN_WITHIN):
    deadline = time.monotonic() + timeout
    while True:
        ran = net.run(index, *BROWSERCOUCH, "peers", "--timeout", "1", "--json")
        assert ran.returncode == 0, ran.stderr
        found = json.loads(ran.stdout)
        if until(found) or time.monotonic() > deadline:
            return found


@needs_lan
def test_two_bridges_on_a_lan_are_told_about_each_other():
    with lan.lan() as net:
        bridges = [BridgeProcess(command=["ip", "netns", "exec", name, *BRIDGE]) for name in net.names]
        try:
            uuids = ["a" * 32, "b" * 32]
            for bridge, uuid, name in zip(bridges, uuids, ("Alice", "Bob"), strict=True):
                assert bridge.request({"type": "listen", "host": "0.0.0.0", "port": 0})["type"] == "listening"
                bridge.send({"type": "announce", "uuid": uuid, "name": name, "auth": True})
                answer = _told(bridge, lambda _: False, answer="announced")
                assert answer == {"type": "announced", "instance": f"{name} ({uuid[:8]})"}, answer
            for bridge, other, address in zip(bridges, uuids[::-1], net.addresses[::-1], strict=True):
                peers = _told(bridge, lambda peers: peers)
                assert [peer["uuid"] for peer in peers] == [other], peers
                assert peers[0]["kind"] == "browser" and peers[0]["addresses"] == [address]
            bridges[1].send({"type": "stop"})
            assert _told(bridges[0], lambda peers: not peers) == []
        finally:
            for bridge in bridges:
                assert bridge.stop() == 0


def _told(bridge, until, timeout=SEEN_WITHIN, answer=None):
    """The peers of the bridge's unasked ``peers`` messages once ``until(peers)`` holds, or the first
    message of type ``answer`` (the peers messages can come before an answer)."""
    deadline = time.monotonic() + timeout
    while True:
        message = bridge.receive(max(0.1, deadline - time.monotonic()))
        if message["type"] == answer:
            return message
        if message["type"] == "peers" and until(message["peers"]):
            return message["peers"]
        assert time.monotonic() < deadline, message
