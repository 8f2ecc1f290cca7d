"""``replicator.backoff``: exponential delays with a cap, jitter injected to make them exact."""

import pytest

from browsercouch.replicator.backoff import Backoff


def test_doubles_up_to_the_cap():
    backoff = Backoff(1.0, 10.0, spread=0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 10, 10, 10]


def test_a_huge_failure_count_stays_at_the_cap():
    assert Backoff(0.5, 60.0, spread=0).delay(10_000) == 60.0


@pytest.mark.parametrize("jitter, expected", [(0.0, 4.0), (0.5, 3.0), (0.999, 2.002)])
def test_jitter_shortens_by_at_most_the_spread(jitter, expected):
    backoff = Backoff(1.0, 60.0, spread=0.5, jitter=lambda: jitter)
    assert backoff.delay(3) == pytest.approx(expected)


def test_other_factors():
    backoff = Backoff(0.1, 100.0, factor=3.0, spread=0)
    assert [round(backoff.delay(n), 6) for n in (1, 2, 3)] == [0.1, 0.3, 0.9]


@pytest.mark.parametrize("kwargs", [
    {"initial": 0}, {"initial": 2, "maximum": 1}, {"factor": 0.5}, {"spread": 1.5}, {"spread": -0.1},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_failures_count_from_one():
    with pytest.raises(ValueError):
        Backoff().delay(0)
