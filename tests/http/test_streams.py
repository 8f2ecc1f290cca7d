"""Tests for browsercouch.http.streams: the memory pipe and the asyncio socket stream."""

import asyncio
import socket
import struct

import pytest
from helpers import async_test

from browsercouch.http.streams import AsyncioStream, memory_pipe


async def settle():
    """Let every ready task run until they all wait."""
    for _ in range(10):
        await asyncio.sleep(0)


# --- memory pipe -------------------------------------------------------------------------------


@async_test
async def test_pipe_carries_bytes_both_ways_and_keeps_write_boundaries():
    a, b = memory_pipe()
    await a.write(b"a")
    await a.write(b"bc")
    await b.write(b"reply")
    assert await b.read() == b"a"
    assert await b.read() == b"bc"
    assert await a.read() == b"reply"


@async_test
async def test_pipe_reads_long_chunks_in_read_size_pieces():
    a, b = memory_pipe(read_size=4)
    await a.write(b"0123456789")
    await a.write(b"xy")
    assert [await b.read() for _ in range(4)] == [b"0123", b"4567", b"89", b"xy"]


@async_test
async def test_pipe_close_gives_eof_after_the_data_already_written():
    a, b = memory_pipe()
    await a.write(b"last words")
    await a.close()
    assert await b.read() == b"last words"
    assert await b.read() == b""
    assert await b.read() == b""  # EOF is sticky


@async_test
async def test_pipe_write_after_either_close_raises_broken_pipe():
    a, b = memory_pipe()
    await b.close()
    with pytest.raises(BrokenPipeError):
        await a.write(b"x")
    with pytest.raises(BrokenPipeError):
        await b.write(b"x")


@async_test
async def test_pipe_write_waits_while_the_pipe_is_over_its_limit():
    a, b = memory_pipe(limit=10)
    writer = asyncio.ensure_future(a.write(b"x" * 25))
    await settle()
    assert not writer.done()
    assert await b.read() == b"x" * 25
    await settle()
    assert writer.done()
    await writer


@async_test
async def test_pipe_close_wakes_a_blocked_writer_with_broken_pipe():
    a, b = memory_pipe(limit=10)
    writer = asyncio.ensure_future(a.write(b"x" * 25))
    await settle()
    await b.close()
    with pytest.raises(BrokenPipeError):
        await writer


@async_test
async def test_pipe_close_wakes_a_blocked_reader_with_eof():
    a, b = memory_pipe()
    reader = asyncio.ensure_future(b.read())
    await settle()
    assert not reader.done()
    await a.close()
    assert await reader == b""


@async_test
async def test_pipe_half_close_lets_the_closing_end_keep_reading():
    a, b = memory_pipe()
    await a.write(b"request")
    await a.write_eof()
    assert await b.read() == b"request"
    assert await b.read() == b""
    await b.write(b"response")
    await b.close()
    assert await a.read() == b"response"
    assert await a.read() == b""
    with pytest.raises(BrokenPipeError):
        await a.write(b"more")


@async_test
async def test_pipe_cancelled_read_consumes_nothing():
    a, b = memory_pipe()
    reader = asyncio.ensure_future(b.read())
    await settle()
    reader.cancel()
    await settle()
    await a.write(b"kept")
    assert await b.read() == b"kept"


# --- asyncio stream over a real socket ------------------------------------------------------------


async def socket_pair(handler, **stream_options):
    """Start a 127.0.0.1 server whose connections run ``handler(AsyncioStream)``; connect to it.

    Returns ``(client AsyncioStream, server, handler_done future)``.
    """
    done = asyncio.get_running_loop().create_future()

    async def handle(reader, writer):
        try:
            done.set_result(await handler(AsyncioStream(reader, writer, **stream_options)))
        except Exception as exc:
            done.set_exception(exc)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    return AsyncioStream(reader, writer), server, done


async def read_until_eof(stream):
    chunks = []
    while chunk := await stream.read():
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.native
@async_test
async def test_asyncio_stream_round_trip_and_half_close():
    async def echo_until_eof(stream):
        data = await read_until_eof(stream)
        await stream.write(data.upper())
        await stream.close()
        return data

    client, server, done = await socket_pair(echo_until_eof)
    await client.write(b"hello ")
    await client.write(b"socket")
    await client.write_eof()
    assert await read_until_eof(client) == b"HELLO SOCKET"
    assert await done == b"hello socket"
    await client.close()
    server.close()
    await server.wait_closed()


@pytest.mark.native
@async_test
async def test_asyncio_stream_write_after_the_peer_closed_raises_connection_error():
    async def close_at_once(stream):
        await stream.close()

    client, server, done = await socket_pair(close_at_once, linger=0)
    await done
    assert await client.read() == b""
    with pytest.raises(ConnectionError):
        for _ in range(100):
            await client.write(b"x" * 65536)
            await asyncio.sleep(0.01)
    await client.close()
    server.close()
    await server.wait_closed()


@pytest.mark.native
@async_test
async def test_asyncio_stream_turns_a_reset_into_eof():
    async def reset(stream):
        sock = stream._writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stream._writer.transport.abort()

    client, server, done = await socket_pair(reset)
    await done
    await client.write(b"x")  # provoke the reset
    assert await client.read() == b""
    await client.close()
    server.close()
    await server.wait_closed()


@pytest.mark.native
@async_test
async def test_asyncio_stream_close_lingers_so_an_uploading_peer_gets_the_answer():
    answer = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n"

    async def refuse_upload(stream):
        await stream.read()  # a little of the upload, then answer and close with input unread
        await stream.write(answer)
        await stream.close()

    client, server, done = await socket_pair(refuse_upload)

    try:  # the whole upload first, as simple clients do, and only then read the answer
        for _ in range(64):
            await client.write(b"u" * 65536)
        await client.write_eof()
    except ConnectionError:
        pass
    received = await read_until_eof(client)
    await done
    assert received == answer
    await client.close()
    server.close()
    await server.wait_closed()
