"""Differential conformance: the same requests to Apache CouchDB 3.4.3 and to browsercouch, compared.

- ``corpus/``: the declarative scenarios, one module per area; ``strategies.py``: generated ones
  (hypothesis). Both are lists of ``steps.Step``, requests that may use what an earlier answer said.
- ``replay.py`` sends a scenario to one server on a fresh database (the only module with I/O);
  ``normalise.py`` turns each answer into data without what may differ between two CouchDBs (revision
  hashes, sequences, uuids, times, sizes); ``compare.py`` lists the differences and pairs the
  placeholders one to one.
- ``allowlist.py``: the differences we keep, each with a one-line reason; ``PENDING(owner):`` marks one
  waiting for a fix. An entry that explains nothing any more fails ``test_corpus``.

A failure reads ``scenario:step path: CouchDB <value> / ours <value>``. Fix the difference, or, when it
must stay, add an ``Allowed`` entry naming exactly that step, path and (where it helps) the values.
"""
