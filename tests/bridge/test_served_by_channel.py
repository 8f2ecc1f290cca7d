"""The real bridge process and the page's real ``tab.channel.ChannelServer`` serving the CouchDB app: HTTP
clients on real sockets get CouchDB's answers, as they will from the extension's page (there the same
ChannelServer runs in Pyodide and the WebSocket is the browser's)."""

import asyncio
import concurrent.futures
import hashlib
import http.client
import json
import os
import threading

from websockets.asyncio.client import connect

from browsercouch.api import CouchApp
from browsercouch.store import Couch
from browsercouch.tab.channel import ChannelServer

from .harness import ORIGIN, TIMEOUT


class ServingPage:
    """``ChannelServer(CouchApp)`` on the bridge's channel at ``url``, in a thread with its own event loop."""

    def __init__(self, url):
        self.couch = Couch()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(url), self._loop).result(TIMEOUT)

    async def _start(self, url):
        self._ws = await connect(url, origin=ORIGIN, compression=None, max_size=None, ping_interval=None)
        outbox = asyncio.Queue()
        self.app = CouchApp(self.couch)
        self.channel = ChannelServer(self.app, outbox.put_nowait)

        async def send():
            while True:
                await self._ws.send(await outbox.get())

        async def receive():
            async for message in self._ws:
                self.channel.receive(message)

        self._tasks = [asyncio.ensure_future(send()), asyncio.ensure_future(receive())]

    def stop(self):
        async def stop():
            await self.channel.close()
            for task in self._tasks:
                task.cancel()
            await self._ws.close()
            await self.app.scheduler.stop()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)


def call(port, method, path, body=None, headers=None, conn=None):
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def test_couchdb_clients_are_served_through_the_bridge(bridge):
    port = bridge.listen()
    page = ServingPage(bridge.channel)
    try:
        status, body = call(port, "GET", "/")
        assert status == 200 and json.loads(body)["uuid"] == page.couch.uuid
        assert call(port, "PUT", "/db")[0] == 201

        blob = os.urandom(20 * 1024 * 1024)
        status, body = call(port, "PUT", "/db/doc/blob", blob, {"Content-Type": "application/octet-stream"})
        assert status == 201, body
        status, body = call(port, "GET", "/db/doc/blob")
        assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(blob).digest()

        def keep_alive_client(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            statuses = [call(port, "PUT", f"/db/c{n}-{i}", b"{}", conn=conn)[0] for i in range(5)]
            conn.close()
            return statuses

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            results = list(pool.map(keep_alive_client, range(40)))
        assert results == [[201] * 5] * 40
        assert json.loads(call(port, "GET", "/db")[1])["doc_count"] == 201
        assert page.channel.stats()["requests"] >= 205
    finally:
        page.stop()
