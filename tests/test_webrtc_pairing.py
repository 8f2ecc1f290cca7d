"""``browsercouch.webrtc``'s pairing messages, without a network: codes and signatures as web/webrtc.js
makes them (the browser's own, decoded here, in ``tests/e2e/test_webrtc_native.py``)."""

import pytest

from browsercouch import webrtc

MESSAGE = {"kind": "answer", "from": "a" * 32, "to": "b" * 32, "session": "s1", "to_session": "s2",
           "sdp": "v=0\r\na=candidate:1 1 udp 2122194687 127.0.0.1 43477 typ host\r\n"}


def test_a_code_carries_its_message_whole():
    code = webrtc.encode_code(MESSAGE)
    assert code.startswith("bc1.") and "=" not in code
    assert webrtc.decode_code(f"  {code}\n") == MESSAGE


@pytest.mark.parametrize("code", ["", "bc2.abc", "bc1.!!!", "bc1." + "A" * 40])
def test_what_is_not_a_code_is_refused(code):
    with pytest.raises(ValueError):
        webrtc.decode_code(code)


@pytest.mark.parametrize("field", ["kind", "from", "to", "session", "to_session", "sdp"])
def test_a_signature_covers_every_field(field):
    signed = webrtc.sign("secret", MESSAGE)
    assert webrtc.verified("secret", signed)
    assert not webrtc.verified("other secret", signed)
    assert not webrtc.verified("secret", {**signed, field: signed[field] + "x"})


def test_a_message_without_a_signature_is_not_verified():
    assert not webrtc.verified("secret", MESSAGE)
    assert not webrtc.verified("secret", {**MESSAGE, "mac": "not base64 *"})
