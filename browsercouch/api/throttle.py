"""Failed logins slow down whoever keeps failing: per client address and per user name, in bounded memory.

Theory of operation
-------------------
Each key (an address, or a user name) has a count of failures. The first ``FREE_FAILURES`` cost nothing
(CouchDB's ``[chttpd_auth_lockout] threshold``); each one after that locks the key for a time that doubles,
``FIRST_LOCK`` seconds up to ``MAX_LOCK``. While a key is locked, or already has ``MAX_CONCURRENT``
checks under way, the caller answers 429 with ``Retry-After`` instead of checking a password: a locked
request costs no hashing, which is what keeps a flood from stalling the server. A key is forgotten
``FORGET_AFTER`` seconds after its last failure (CouchDB's lockout ``max_lifetime``), and each kind keeps
at most ``MAX_KEYS`` keys, the least recently failed dropped first (CouchDB's ``max_objects``).

IPv6 peers are keyed by their /64: one host usually owns a whole /64, and could otherwise make a fresh
address per guess. Nothing here reads a clock or sleeps: callers pass ``now`` (seconds, monotonic).
"""

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["LoginThrottle", "FREE_FAILURES", "MAX_LOCK"]

# Failures a key may have before it is locked (CouchDB 3.4's lockout threshold is 5).
FREE_FAILURES = 5
# The first lock, in seconds; each further failure doubles it ...
FIRST_LOCK = 1.0
# ... up to this: about four guesses a minute per address and per name once locked.
MAX_LOCK = 16.0
# Seconds after its last failure that a key starts afresh (CouchDB's lockout max_lifetime is 300 s).
FORGET_AFTER = 300.0
# Keys remembered per kind (CouchDB's lockout max_objects is 10,000): a few MB at most.
MAX_KEYS = 10_000
# Password checks that may run at once for one key; more are answered 429 until one ends.
MAX_CONCURRENT = 2


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0
    last_seen: float = 0.0
    running: int = 0


def address_key(address: str | None) -> str | None:
    """The throttling key of a client address: itself, or its /64 for IPv6; ``None`` when unknown."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


class _Keys:
    """The entries of one kind of key, least recently failed first."""

    def __init__(self, max_keys):
        self.max_keys = max_keys
        self.entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, key, now):
        self._forget_stale(now)
        return self.entries.get(key)

    def touch(self, key, now):
        """The entry of ``key``, made if needed and moved to the recent end."""
        entry = self.get(key, now)
        if entry is None:
            entry = self.entries[key] = _Entry(last_seen=now)
            while len(self.entries) > self.max_keys:
                self.entries.popitem(last=False)
        self.entries.move_to_end(key)
        return entry

    def _forget_stale(self, now):
        while self.entries:
            key, entry = next(iter(self.entries.items()))
            if now - entry.last_seen < FORGET_AFTER or entry.running:
                return
            del self.entries[key]


class LoginThrottle:
    """Counts failed logins per client address and per user name; says how long a request must wait."""

    def __init__(self, max_keys=MAX_KEYS):
        self._addresses, self._names = _Keys(max_keys), _Keys(max_keys)

    def _keys(self, address, name):
        """``(keys, key)`` pairs of a request: its address's and its name's, when known."""
        pairs = ((self._addresses, address_key(address)), (self._names, name))
        return [(keys, key) for keys, key in pairs if key is not None]

    def wait(self, address, name, now, *, name_too=True):
        """Seconds (a whole number, at least 1) before this address may try ``name`` again, or 0.

        ``name_too=False`` looks at the address alone: a password the server already verified once
        passes a lock on the name, so an attack on a name does not lock its owner's sessions out.
        """
        wait = 0.0
        for keys, key in self._keys(address, name if name_too else None):
            entry = keys.get(key, now)
            if entry is not None:
                busy = 1.0 if entry.running >= MAX_CONCURRENT else 0.0
                wait = max(wait, busy, entry.locked_until - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address, name, now):
        """Count one failure for the address and the name, and lock them if they failed too often."""
        for keys, key in self._keys(address, name):
            entry = keys.touch(key, now)
            entry.failures += 1
            entry.last_seen = now
            excess = entry.failures - FREE_FAILURES
            if excess > 0:
                entry.locked_until = now + min(FIRST_LOCK * 2 ** min(excess - 1, 32), MAX_LOCK)

    def started(self, address, name, now):
        """A password check for the address and the name is under way (see ``MAX_CONCURRENT``)."""
        for keys, key in self._keys(address, name):
            keys.touch(key, now).running += 1

    def ended(self, address, name, now, *, ok):
        """A check ``started`` has ended; ``ok`` when the password was right, which clears the name's
        failures (its owner proved who they are), not the address's."""
        for keys, key in self._keys(address, name):
            entry = keys.get(key, now)
            if entry is not None:
                entry.running = max(0, entry.running - 1)
        if not ok:
            self.failed(address, name, now)
        elif name is not None and (entry := self._names.get(name, now)) is not None:
            entry.failures, entry.locked_until = 0, 0.0
