"""``browsercouch.frames``: the send window's arithmetic (frames: ``tests/tab/test_channel.py``)."""

import pytest

from browsercouch import frames


def test_the_window_tells_how_much_may_be_sent():
    window = frames.SendWindow(100)
    assert window.open and window.available == 100
    window.sent(60)
    assert window.open and window.available == 40
    window.sent(40)
    assert not window.open and window.available == 0
    window.acked(70)
    assert window.open and window.available == 70
    with pytest.raises(frames.FrameError):
        window.acked(31)
