"""A byte forwarder, one hop of a path from this namespace into a network namespace a test created.

    python forward.py LISTEN TARGET      (each tcp:HOST:PORT or unix:PATH)

Every connection accepted on LISTEN is joined to a new connection to TARGET, both ways, until either side
closes. A TARGET that refuses is retried for up to CONNECT_WAIT seconds (the program behind it may still be
starting). Path-named Unix sockets are shared by all network namespaces: run ``unix:P -> tcp:127.0.0.1:N``
inside the namespace and ``tcp:127.0.0.1:N -> unix:P`` here, and 127.0.0.1:N here reaches 127.0.0.1:N there
(so a ``Host: 127.0.0.1:N`` header stays right). It prints ``ready`` once it listens.
"""

import asyncio
import sys

CONNECT_WAIT = 30.0
CHUNK = 1 << 16


async def _open(spec):
    kind, _, rest = spec.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(rest)
    host, _, port = rest.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def _pump(reader, writer):
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def _join(target, client_reader, client_writer):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_WAIT
    while True:
        try:
            reader, writer = await _open(target)
            break
        except OSError:
            if loop.time() > deadline:
                client_writer.close()
                return
            await asyncio.sleep(0.1)
    await asyncio.gather(_pump(client_reader, writer), _pump(reader, client_writer))
    writer.close()
    client_writer.close()


async def main(listen, target):
    kind, _, rest = listen.partition(":")
    handler = lambda r, w: _join(target, r, w)  # noqa: E731
    if kind == "unix":
        server = await asyncio.start_unix_server(handler, rest)
    else:
        host, _, port = rest.rpartition(":")
        server = await asyncio.start_server(handler, host, int(port))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
