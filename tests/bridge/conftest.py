import pytest

from browsercouch import frames

from .harness import BridgeProcess, Page


@pytest.fixture
def start_bridge():
    """``start(*args, origin=...) -> BridgeProcess``; each one must exit cleanly (status 0) afterwards."""
    bridges = []

    def start(*args, **options):
        bridge = BridgeProcess(*args, **options)
        bridges.append(bridge)
        return bridge

    yield start
    for bridge in bridges:
        assert bridge.stop() == 0


@pytest.fixture
def bridge(start_bridge):
    return start_bridge("--channel-wait", "2")


@pytest.fixture
def pages():
    """``page(url, **options) -> Page``; afterwards every page must have seen a well-behaved bridge: no
    protocol error, never more than ``WINDOW`` bytes un-acknowledged on a connection."""
    started = []

    def page(url, **options):
        started.append(Page(url, **options))
        return started[-1]

    yield page
    for each in started:
        each.stop()
    for each in started:
        assert each.errors == []
        assert each.max_unacked() <= frames.WINDOW
