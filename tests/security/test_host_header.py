"""Issue 12 item 1: DNS rebinding. A page on a name its attacker controls, once that name resolves to the
server, talks to it as same-origin and CORS does not help; only the ``Host`` header tells. So on a
loopback bind only loopback names and addresses with the server's port (or none) are served, in LAN mode
also the address the peer connected to, and the names given with ``--hostname`` (any port); anything
else is 400, saying why.
Natively and on the tab (where the page side checks what the bridge forwards)."""

import pytest
from helpers import http

from .support import lan, lan_missing_reason, port_of, request, start_in

LOOPBACK_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "127.1.2.3:{port}",
                  "[::1]:{port}", "localhost", "127.0.0.1"]
REFUSED_HOSTS = ["evil.example:{port}", "evil.example", "127.0.0.1:1", "localhost:80",
                 "127.0.0.1.evil.example:{port}", "10.0.0.1:{port}", "[::2]:{port}", "0.0.0.0:{port}",
                 "localhost.:{port}"]


def _refused(port, method, target, host, body=b""):
    status, answer = request(port, method, target, host_header=host, body=body,
                             headers=[("Content-Type", "application/json")] if body else [])
    assert status == 400, (host, status, answer)
    assert answer["error"] == "bad_request"
    assert "DNS rebinding" in answer["reason"] and host.split(":")[0] in answer["reason"]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_names_are_served_natively(native, host):
    port = port_of(native.url)
    status, welcome = request(port, "GET", "/", host_header=host.format(port=port))
    assert status == 200 and welcome["couchdb"] == "Welcome"


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_other_hosts_are_refused_natively(native, host):
    port = port_of(native.url)
    _refused(port, "GET", "/", host.format(port=port))


def test_a_rebound_page_can_neither_read_nor_write_natively(native):
    port = port_of(native.url)
    assert http("PUT", native.url + "secrets")[0] == 201
    assert http("PUT", native.url + "secrets/doc", {"pin": 1234})[0] == 201
    evil = f"evil.example:{port}"
    _refused(port, "GET", "/secrets/doc", evil)
    _refused(port, "PUT", "/newdb", evil)
    _refused(port, "PUT", "/secrets/doc2", evil, body=b'{"a": 1}')
    assert http("GET", native.url + "newdb")[0] == 404
    assert http("GET", native.url + "secrets/doc2")[0] == 404


def test_http_1_0_without_host_is_served(native):
    assert request(port_of(native.url), "GET", "/_up", host_header=None)[0] == 200


def test_hostname_names_are_served_on_any_port(browsercouch_factory):
    server = browsercouch_factory("--hostname", "couch.test", "--hostname", "Other.Test")
    port = port_of(server.url)
    for host in (f"couch.test:{port}", "couch.test", "other.test:443", f"127.0.0.1:{port}"):
        assert request(port, "GET", "/", host_header=host)[0] == 200, host
    _refused(port, "GET", "/", f"third.test:{port}")


@pytest.mark.skipif(lan_missing_reason() is not None, reason=lan_missing_reason() or "")
def test_lan_mode_serves_its_own_address_and_hostnames_natively():
    with lan() as (namespace, address):
        server = start_in(namespace, "serve", "--host", "0.0.0.0", "--port", "0", "--memory",
                          "--admin", "adm:pw", "--hostname", "couch.lan")
        try:
            port = port_of(server.url)
            for host in (f"{address}:{port}", f"couch.lan:{port}"):
                status, _ = request(port, "GET", "/", host_header=host, host=address)
                assert status == 200, (host, server.output())
            for host in (f"evil.example:{port}", f"10.200.250.250:{port}", f"{address}:1"):
                status, answer = request(port, "GET", "/", host_header=host, host=address)
                assert status == 400 and "DNS rebinding" in answer["reason"], (host, answer)
        finally:
            server.stop()


# --- the tab ----------------------------------------------------------------------------------------------

@pytest.mark.chromium
@pytest.mark.slow
def test_the_tab_refuses_other_hosts(tab):
    port = tab.port
    for host in LOOPBACK_HOSTS:
        status, welcome = request(port, "GET", "/", host_header=host.format(port=port))
        assert status == 200 and welcome["couchdb"] == "Welcome", host
    for host in ("evil.example:{port}", "127.0.0.1:1", "10.0.0.1:{port}"):
        _refused(port, "GET", "/", host.format(port=port))
    _refused(port, "PUT", "/rebound", f"evil.example:{port}")
    assert http("GET", f"http://127.0.0.1:{port}/rebound")[0] == 404


@pytest.mark.chromium
@pytest.mark.slow
@pytest.mark.skipif(lan_missing_reason() is not None, reason=lan_missing_reason() or "")
def test_the_tab_in_lan_mode_serves_its_own_address_and_hostnames(tmp_path):
    with lan() as (namespace, address):
        server = start_in(namespace, "browser", "--headless", "--lan", "--admin", "adm:pw", "--port", "61990",
                          "--profile", str(tmp_path / "profile"), "--hostname", "couch.lan")
        try:
            for host in (f"{address}:61990", "couch.lan:61990", "couch.lan"):
                status, _ = request(61990, "GET", "/", host_header=host, host=address)
                assert status == 200, (host, server.output())
            for host in ("evil.example:61990", "10.200.250.250:61990"):
                status, answer = request(61990, "GET", "/", host_header=host, host=address)
                assert status == 400 and "DNS rebinding" in answer["reason"], (host, answer)
        finally:
            server.stop()
