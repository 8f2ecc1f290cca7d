"""``bridge.nativemessaging``: the length-prefixed JSON of native messaging, fed every way (STYLE rule 13)."""

import struct
import sys

import pytest

from browsercouch.bridge.nativemessaging import (
    BROWSER_TO_HOST_MAX,
    CLOSED,
    HOST_TO_BROWSER_MAX,
    NEED_DATA,
    Decoder,
    NativeMessagingError,
    encode,
)

MESSAGES = [{"type": "listen", "host": "127.0.0.1", "port": 61984}, {"type": "ping", "id": 3},
            {"text": "h\u00e9llo \u2603"}, [1, 2], "text", None, 0]


def _wire(messages):
    return b"".join(encode(message) for message in messages)


def _decode(chunks):
    decoder, out = Decoder(), []
    for chunk in chunks:
        decoder.receive_data(chunk)
        while (message := decoder.next_message()) is not NEED_DATA:
            out.append(message)
    decoder.receive_data(b"")
    assert decoder.next_message() is CLOSED
    return out


@pytest.mark.parametrize("way", ["whole", "bytewise", "pairs"])
def test_messages_come_out_as_they_went_in(way):
    wire = _wire(MESSAGES)
    chunks = {"whole": [wire], "bytewise": [wire[i:i + 1] for i in range(len(wire))],
              "pairs": [wire[i:i + 2] for i in range(0, len(wire), 2)]}[way]
    assert _decode(chunks) == MESSAGES


def test_the_length_is_native_endian_and_the_body_compact_json():
    wire = encode({"type": "ping", "n": 1})
    assert wire[4:] == b'{"type":"ping","n":1}'
    assert wire[:4] == (21).to_bytes(4, sys.byteorder)


def test_a_whole_message_then_a_part_of_the_next():
    decoder = Decoder()
    wire = _wire([{"a": 1}, {"b": 2}])
    decoder.receive_data(wire[:-3])
    assert decoder.next_message() == {"a": 1}
    assert decoder.next_message() is NEED_DATA
    decoder.receive_data(wire[-3:])
    assert decoder.next_message() == {"b": 2}


def test_the_host_cannot_send_more_than_1_mib():
    assert len(encode("x" * (HOST_TO_BROWSER_MAX - 2))) == 4 + HOST_TO_BROWSER_MAX
    with pytest.raises(NativeMessagingError):
        encode("x" * (HOST_TO_BROWSER_MAX - 1))


def test_a_length_over_the_limit_breaks_the_stream():
    decoder = Decoder()
    decoder.receive_data(struct.pack("=I", BROWSER_TO_HOST_MAX + 1))
    with pytest.raises(NativeMessagingError):
        decoder.next_message()
    assert decoder.broken


def test_a_message_that_is_not_json_is_skipped():
    decoder = Decoder()
    for body in (b"{nope", b"\xff\xfe"):
        decoder.receive_data(struct.pack("=I", len(body)) + body)
    decoder.receive_data(encode({"ok": True}))
    for _ in range(2):
        with pytest.raises(NativeMessagingError):
            decoder.next_message()
        assert not decoder.broken
    assert decoder.next_message() == {"ok": True}


def test_input_that_ends_inside_a_message_is_broken():
    decoder = Decoder()
    decoder.receive_data(encode({"a": 1})[:-1])
    assert decoder.next_message() is NEED_DATA
    decoder.receive_data(b"")
    with pytest.raises(NativeMessagingError):
        decoder.next_message()
    assert decoder.broken


def test_nothing_is_accepted_after_the_end():
    decoder = Decoder()
    decoder.receive_data(b"")
    assert decoder.next_message() is CLOSED
    with pytest.raises(NativeMessagingError):
        decoder.receive_data(b"x")
