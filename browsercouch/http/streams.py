"""Byte streams: the three-method interface the HTTP driver runs over.

The driver (``driver.py``) never touches a socket. It talks to one *byte stream* per connection, any
object with these three coroutine methods:

``read() -> bytes``
    The next chunk of bytes from the peer, waiting until at least one byte is there. ``b""`` means EOF:
    the peer will send nothing more (as in h11's ``receive_data``), and every later call returns ``b""``
    again. A stream turns an abortive close (connection reset) into ``b""`` too; it does not raise.
    ``read()`` is cancellation-safe: a read that is cancelled consumes nothing.
``write(data: bytes) -> None``
    Send ``data``, waiting while too much is already in flight (backpressure). Raises ``ConnectionError``
    (``BrokenPipeError``, ``ConnectionResetError``) once the peer is gone.
``close() -> None``
    Close both directions; the peer's ``read()`` returns ``b""`` once it has read what was already
    written. Idempotent.

Streams may also offer ``write_eof()``, a half-close: the peer reads EOF, but this end can still read
what the peer writes back (an HTTP client that sends a request and then shuts its side, for example).

Two implementations live here. ``AsyncioStream`` wraps asyncio's ``StreamReader``/``StreamWriter`` (the
native server and client). ``memory_pipe()`` joins two ``MemoryStream`` ends in memory, bounded like a
socket buffer, for tests and for in-process clients that should run the real HTTP driver without a
socket. The browser shells supply a third, fed from JavaScript one chunk at a time.
"""

import asyncio
import collections

__all__ = [
    "READ_SIZE",
    "PIPE_BUFFER_SIZE",
    "LINGER_TIMEOUT",
    "ByteStream",
    "AsyncioStream",
    "MemoryStream",
    "memory_pipe",
]

# Most bytes one read() returns: asyncio's own StreamReader default limit (64 KiB); a 20 MB body is about
# 320 reads, and no single read holds more than this in memory.
READ_SIZE = 64 * 1024

# Bytes a memory pipe holds per direction before write() waits: asyncio's default write high-water mark
# (64 KiB), about what a loopback socket buffers before the sender blocks.
PIPE_BUFFER_SIZE = 64 * 1024

# Seconds close() keeps reading (and discarding) after shutting its sending side, so that a peer still
# uploading gets our final response instead of a TCP reset. Apache's lingering close uses 2 s per read.
LINGER_TIMEOUT = 2.0


class ByteStream:
    """The interface, for documentation and type hints; see the module docstring for the contract."""

    async def read(self) -> bytes:
        """Return the next chunk (at least one byte), or ``b""`` at EOF."""
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        """Send ``data``; raises ``ConnectionError`` once the peer is gone."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close both directions; idempotent."""
        raise NotImplementedError


class AsyncioStream(ByteStream):
    """A byte stream over an asyncio ``StreamReader``/``StreamWriter`` pair (a TCP connection).

    ``close()`` is a *lingering* close: unless the peer has already sent EOF, it shuts our sending side
    first and reads and discards for up to ``linger`` seconds until the peer closes too. Closing a TCP
    socket with unread input makes the kernel send a reset, which can destroy a response the peer has
    not read yet (a 413 answer to an upload, say).
    """

    def __init__(self, reader, writer, *, read_size=READ_SIZE, linger=LINGER_TIMEOUT):
        self._reader = reader
        self._writer = writer
        self._read_size = read_size
        self._linger = linger

    async def read(self) -> bytes:
        """Return up to ``read_size`` bytes, or ``b""`` at EOF or after a connection reset."""
        try:
            return await self._reader.read(self._read_size)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        """Send ``data`` and wait for the transport's buffer to drain below its high-water mark.

        Raises ``ConnectionResetError`` if the connection is closed or lost.
        """
        if self._writer.is_closing():
            raise ConnectionResetError("connection closed")
        self._writer.write(data)
        await self._writer.drain()

    async def write_eof(self) -> None:
        """Half-close: send EOF (TCP FIN) but keep reading."""
        if not self._writer.is_closing() and self._writer.can_write_eof():
            self._writer.write_eof()

    async def close(self) -> None:
        """Linger (see the class docstring), then close the socket. Never raises ``OSError``.

        A task that is being cancelled closes at once, without lingering.
        """
        writer = self._writer
        if writer.is_closing():
            return
        task = asyncio.current_task()
        try:
            if not (self._reader.at_eof() or (task and task.cancelling())) and writer.can_write_eof():
                writer.write_eof()
                await self._discard_until_eof()
        except OSError:
            pass
        finally:
            writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass

    async def _discard_until_eof(self):
        try:
            async with asyncio.timeout(self._linger):
                while await self._reader.read(self._read_size):
                    pass
        except TimeoutError:
            pass


class _HalfPipe:
    """One direction of a memory pipe: a bounded queue of chunks, with EOF and a broken flag."""

    def __init__(self, limit, read_size):
        self._chunks = collections.deque()
        self._offset = 0  # bytes of the head chunk already read
        self._size = 0
        self._limit = limit
        self._read_size = read_size
        self._eof = False  # the writer half-closed: no more data will come
        self._broken = False  # the reader closed: writes fail
        self._dropped = False  # the reader closed with data unread
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def put(self, data):
        if self._broken:
            raise BrokenPipeError("the other end of the pipe is closed")
        if self._eof:
            raise BrokenPipeError("write after close or write_eof")
        if data:
            self._chunks.append(data)
            self._size += len(data)
            self._readable.set()
            if self._size > self._limit:
                self._writable.clear()

    async def drain(self):
        await self._writable.wait()
        if self._dropped:
            raise BrokenPipeError("the other end of the pipe closed without reading everything")

    async def get(self):
        while not self._chunks and not self._eof and not self._broken:
            self._readable.clear()
            await self._readable.wait()
        if not self._chunks:
            return b""
        head = self._chunks[0]
        start = self._offset
        end = min(start + self._read_size, len(head))
        if end == len(head):
            self._chunks.popleft()
            self._offset = 0
            data = head[start:] if start else head
        else:
            self._offset = end
            data = bytes(memoryview(head)[start:end])
        self._size -= len(data)
        if self._size <= self._limit:
            self._writable.set()
        return data

    def shut_write(self):
        self._eof = True
        self._readable.set()

    def shut_read(self):
        self._broken = True
        self._dropped = self._size > 0
        self._chunks.clear()
        self._size = 0
        self._readable.set()
        self._writable.set()


class MemoryStream(ByteStream):
    """One end of a ``memory_pipe()``: what one end writes, the other reads.

    Write boundaries are kept (a 1-byte write is read as a 1-byte chunk), except that a chunk longer
    than ``read_size`` is read in ``read_size`` pieces. ``write()`` returns once the pipe holds at most
    ``limit`` bytes in that direction.
    """

    def __init__(self, incoming, outgoing):
        self._incoming = incoming
        self._outgoing = outgoing

    async def read(self) -> bytes:
        """Return the next chunk, or ``b""`` once the peer has closed (or half-closed) and all is read."""
        return await self._incoming.get()

    async def write(self, data: bytes) -> None:
        """Queue ``data`` for the peer and wait while the pipe is over its limit.

        Raises ``BrokenPipeError`` if the peer has closed, or this end has closed or half-closed.
        """
        self._outgoing.put(bytes(data))
        await self._outgoing.drain()

    async def write_eof(self) -> None:
        """Half-close: the peer reads EOF after the data already written; this end can still read."""
        self._outgoing.shut_write()

    async def close(self) -> None:
        """Close both directions: the peer reads EOF, and its later writes raise ``BrokenPipeError``."""
        self._outgoing.shut_write()
        self._incoming.shut_read()


def memory_pipe(*, limit=PIPE_BUFFER_SIZE, read_size=READ_SIZE):
    """Return two connected ``MemoryStream`` ends ``(a, b)``: bytes written to one are read from the other.

    Args:
        limit: bytes each direction holds before ``write()`` waits for the reader (backpressure).
        read_size: most bytes one ``read()`` returns.
    """
    a_to_b = _HalfPipe(limit, read_size)
    b_to_a = _HalfPipe(limit, read_size)
    return MemoryStream(b_to_a, a_to_b), MemoryStream(a_to_b, b_to_a)
