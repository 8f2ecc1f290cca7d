"""Comparison of normalised answers, and the allowlist that explains the differences we keep. No I/O.

``differences(step, couchdb, ours, pairing)`` walks two normalised exchanges
(``normalise.Normaliser.exchange``) and returns one ``Difference`` per place they disagree, named by a
path such as ``status``, ``headers.etag`` or ``body.rows[0].value.rev``. Scalars are compared as JSON
text, so ``1`` and ``1.0`` or ``true`` and ``1`` differ as they do on the wire. An absent member is
``ABSENT``.

Placeholders (``⟨h3⟩``, ``⟨s2⟩``) are numbered per server, so they are compared through a ``Pairing``
kept for a whole scenario: where both answers have a placeholder in the same place, CouchDB's and ours
are paired, and a place that pairs either with a different partner than before is a difference. So a
rev that only one server mentions shifts nothing, and a server that answers with the wrong rev, or
counts an extra sequence, is caught where it does.

An allowlist entry (``Allowed``) explains differences by glob patterns (``fnmatch``) on the step's id
(``scenario:step``), on the path, and optionally on either side's value as the report shows it (JSON
text, or ``<absent>``); ``explain`` splits differences into those an entry explains and those none does.
"""

import fnmatch
import json
from dataclasses import dataclass

from .normalise import TOKEN

__all__ = ["ABSENT", "Difference", "Allowed", "Pairing", "differences", "transcript_differences", "explain",
           "format_differences"]

ABSENT = "<absent>"


@dataclass(frozen=True)
class Difference:
    step: str
    where: str
    couchdb: object
    ours: object

    def __str__(self):
        return f"{self.step} {self.where}: CouchDB {_show(self.couchdb)} / ours {_show(self.ours)}"


@dataclass(frozen=True)
class Allowed:
    """A difference we keep, with the one-line reason why (``PENDING(owner): ...`` if a fix is due).

    ``couchdb`` and ``ours`` narrow the entry to values that match those globs (``"<absent>"`` for a
    member one side lacks), so "ours lacks Location" does not also excuse a wrong Location.
    """

    step: str
    where: str
    reason: str
    couchdb: str = "*"
    ours: str = "*"

    def explains(self, difference):
        return all(fnmatch.fnmatchcase(value, pattern) for value, pattern in (
            (difference.step, self.step), (difference.where, self.where),
            (_text(difference.couchdb), self.couchdb), (_text(difference.ours), self.ours)))


def _text(value):
    return value if value is ABSENT else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _show(value):
    text = _text(value)
    return text if len(text) <= 300 else text[:300] + "..."


class Pairing:
    """The one-to-one pairing of CouchDB's placeholders with ours, built up over a scenario.

    Opaque ETags (kind ``e``) pair one way only: a CouchDB ETag met again must meet our same ETag (ours
    must be as stable as CouchDB's), but a new CouchDB ETag may meet one of ours met before: CouchDB's
    are of its whole database info (sizes, its shards database), which changes now and then by itself.
    """

    def __init__(self):
        self.forward, self.backward = {}, {}

    def pair(self, couchdb, ours):
        """Whether placeholders ``couchdb`` and ``ours`` (``(kind, number)``) may stand for the same thing;
        pairs them when they are new."""
        one_way = couchdb[0] == "e"
        if couchdb in self.forward or (ours in self.backward and not one_way):
            return self.forward.get(couchdb) == ours
        self.forward[couchdb], self.backward[ours] = ours, couchdb
        return True

    def same_text(self, couchdb, ours):
        """Whether two strings agree outside their placeholders and pair within them."""
        a, b = TOKEN.split(couchdb), TOKEN.split(ours)
        # split() gives text, kind, number, text, kind, number, ..., text.
        if len(a) != len(b) or a[0::3] != b[0::3] or a[1::3] != b[1::3]:
            return False
        tokens = zip(zip(a[1::3], a[2::3], strict=True), zip(b[1::3], b[2::3], strict=True), strict=True)
        return all([self.pair(x, y) for x, y in tokens])


def _same(couchdb, ours, pairing):
    if isinstance(couchdb, str) and isinstance(ours, str):
        return pairing.same_text(couchdb, ours)
    return json.dumps(couchdb, sort_keys=True) == json.dumps(ours, sort_keys=True)


def _walk(couchdb, ours, where, pairing):
    if isinstance(couchdb, dict) and isinstance(ours, dict):
        for key in sorted(set(couchdb) | set(ours)):
            yield from _walk(couchdb.get(key, ABSENT), ours.get(key, ABSENT), f"{where}.{key}", pairing)
    elif isinstance(couchdb, list) and isinstance(ours, list):
        for index in range(max(len(couchdb), len(ours))):
            yield from _walk(couchdb[index] if index < len(couchdb) else ABSENT,
                             ours[index] if index < len(ours) else ABSENT, f"{where}[{index}]", pairing)
    elif couchdb is ABSENT or ours is ABSENT or not _same(couchdb, ours, pairing):
        yield where, couchdb, ours


def differences(step, couchdb, ours, pairing):
    """The ``Difference``s between CouchDB's normalised answer to ``step`` (an id) and ours; ``pairing``
    is the scenario's (a new ``Pairing`` for its first step)."""
    return [Difference(step, where.lstrip("."), a, b) for where, a, b in _walk(couchdb, ours, "", pairing)]


def transcript_differences(scenario, couchdb, ours):
    """The differences between two replays of the scenario named ``scenario``: lists of ``(step name,
    normalised exchange)`` in the same order (``replay.replay``), compared with one ``Pairing``."""
    pairing, found = Pairing(), []
    for (name, theirs), (_, mine) in zip(couchdb, ours, strict=True):
        found += differences(f"{scenario}:{name}", theirs, mine, pairing)
    return found


def explain(found, allowlist):
    """``(unexplained, used)``: the differences no entry of ``allowlist`` explains, and the entries that
    explained at least one."""
    unexplained, used = [], set()
    for difference in found:
        entries = [entry for entry in allowlist if entry.explains(difference)]
        used.update(entries)
        if not entries:
            unexplained.append(difference)
    return unexplained, used


def format_differences(found, limit=60):
    """A report of differences for an assertion message, one per line, at most ``limit``."""
    lines = [str(difference) for difference in found[:limit]]
    if len(found) > limit:
        lines.append(f"... and {len(found) - limit} more")
    return "\n".join(lines)
