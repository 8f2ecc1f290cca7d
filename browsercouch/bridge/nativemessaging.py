"""Native messaging, the way Chrome, Edge, Brave and Firefox talk to a host program over its stdin/stdout.

Sans-IO, like h11: the caller owns the pipes. Each message, either way, is

    length (4 bytes, unsigned, *native* byte order) | that many bytes of UTF-8 JSON

Limits (Chrome's ``native_message_process_host.cc``, Firefox's ``NativeMessaging.sys.mjs``): a message from
the host to the browser is at most 1 MiB, or the browser closes the port; the browser sends at most 64 MiB.
A longer length prefix means the stream is broken (it cannot be resynchronised), so the decoder refuses it.
"""

import json
import struct

__all__ = ["NativeMessagingError", "Decoder", "encode", "NEED_DATA", "CLOSED", "HOST_TO_BROWSER_MAX",
           "BROWSER_TO_HOST_MAX"]

LENGTH = struct.Struct("=I")  # "=": native byte order, standard 4-byte size
HOST_TO_BROWSER_MAX = 1024 * 1024
BROWSER_TO_HOST_MAX = 64 * 1024 * 1024


class NativeMessagingError(ValueError):
    """A message that cannot be sent, or bytes that are not a message."""


class _Sentinel:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


# What ``Decoder.next_message`` returns when no whole message is buffered yet, and after the end of input.
NEED_DATA = _Sentinel("NEED_DATA")
CLOSED = _Sentinel("CLOSED")


def encode(message, limit=HOST_TO_BROWSER_MAX):
    """The wire bytes of one message (any JSON-serialisable value).

    Raises ``NativeMessagingError`` if its JSON is longer than ``limit`` bytes (the browser would close
    the port), ``TypeError``/``ValueError`` if it is not JSON-serialisable.
    """
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > limit:
        raise NativeMessagingError(f"a message of {len(body)} bytes is longer than {limit}")
    return LENGTH.pack(len(body)) + body


class Decoder:
    """Turns the bytes of a native messaging stream into messages.

    Call ``receive_data(data)`` with whatever arrived (``b""`` at the end of input), then ``next_message()``
    until it returns ``NEED_DATA`` or ``CLOSED``.
    """

    def __init__(self, limit=BROWSER_TO_HOST_MAX):
        self.limit = limit
        self._buffer = bytearray()
        self._eof = False
        # True once the stream is broken (a length over the limit, input ended inside a message).
        self.broken = False

    def receive_data(self, data):
        """Add received bytes; ``b""`` means the input ended (the browser closed the port)."""
        if data:
            if self._eof:
                raise NativeMessagingError("data after the end of input")
            self._buffer += data
        else:
            self._eof = True

    def next_message(self):
        """The next decoded message, ``NEED_DATA`` (feed more bytes) or ``CLOSED`` (input ended cleanly).

        Raises ``NativeMessagingError``: for a length over the limit or input that ended inside a message
        (``broken`` is then true: stop reading the stream), or for a whole message that is not UTF-8 JSON
        (it has been consumed: the next call goes on with the following message).
        """
        if len(self._buffer) >= LENGTH.size:
            (length,) = LENGTH.unpack_from(self._buffer)
            if length > self.limit:
                self.broken = True
                raise NativeMessagingError(f"a message of {length} bytes is longer than {self.limit}")
            end = LENGTH.size + length
            if len(self._buffer) >= end:
                body = bytes(self._buffer[LENGTH.size:end])
                del self._buffer[:end]
                try:
                    return json.loads(body.decode("utf-8"))
                except ValueError as error:
                    raise NativeMessagingError(f"a message that is not UTF-8 JSON: {error}") from None
        if not self._eof:
            return NEED_DATA
        if self._buffer:
            self.broken = True
            raise NativeMessagingError(f"the input ended inside a message ({len(self._buffer)} bytes)")
        return CLOSED
