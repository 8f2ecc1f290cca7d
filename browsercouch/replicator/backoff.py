"""Exponential backoff with a cap and jitter, for retrying a replication whose peer failed.

The n-th consecutive failure (n = 1, 2, ...) waits ``min(maximum, initial * factor ** (n - 1))`` seconds,
scaled by a jitter factor between ``1 - spread`` and 1 so that many replicators that lost the same peer do
not all come back at the same instant. ``jitter`` is a callable returning a number in ``[0, 1)``
(``random.random`` by default); tests inject a constant to make delays exact. Pure: no clock, no sleep.
"""

import random

__all__ = ["Backoff", "DEFAULT_INITIAL", "DEFAULT_MAXIMUM"]

# PouchDB's default back-off starts at 0 and grows to at most 10 minutes; CouchDB's scheduler penalises a
# crashing job from 30 s up to 8 hours. A replicator in a browser tab wants to notice a returning peer
# sooner: start at 1 s, double, and never wait more than 60 s between attempts.
DEFAULT_INITIAL = 1.0
DEFAULT_MAXIMUM = 60.0
DEFAULT_FACTOR = 2.0
# Delays vary by up to this fraction (downwards) when jitter is on.
DEFAULT_SPREAD = 0.5


class Backoff:
    """The delays between attempts.

    Args:
        initial: seconds before the first retry (> 0).
        maximum: the cap, in seconds (>= initial).
        factor: growth per consecutive failure (>= 1).
        spread: how much jitter may shorten a delay, as a fraction in ``[0, 1]``; 0 disables jitter.
        jitter: a callable returning a float in ``[0, 1)``.
    """

    def __init__(self, initial=DEFAULT_INITIAL, maximum=DEFAULT_MAXIMUM, *, factor=DEFAULT_FACTOR,
                 spread=DEFAULT_SPREAD, jitter=random.random):
        if not initial > 0 or maximum < initial or factor < 1 or not 0 <= spread <= 1:
            raise ValueError("Backoff needs initial > 0, maximum >= initial, factor >= 1, 0 <= spread <= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.spread = spread
        self.jitter = jitter

    def delay(self, failures):
        """Seconds to wait after ``failures`` consecutive failures (``failures >= 1``)."""
        if failures < 1:
            raise ValueError("failures counts from 1")
        # Cap the exponent first: factor ** failures overflows a float long before anyone waits that long.
        base = self.initial
        for _ in range(failures - 1):
            base *= self.factor
            if base >= self.maximum:
                base = self.maximum
                break
        return base * (1 - self.spread * self.jitter())

    def __repr__(self):
        return f"Backoff(initial={self.initial}, maximum={self.maximum}, factor={self.factor})"
