"""The generated corpus (``strategies.py``): hypothesis writes scenarios, and each replays against CouchDB
3.4.3 and the native server like a declarative one. A failure names the steps and the differences;
hypothesis then shrinks the scenario to the fewest documents and queries that still differ.

The examples are derandomized, so a run is repeatable and the allowlist stable; set
``CONFORMANCE_EXAMPLES`` to explore more (and without ``derandomize``, set ``CONFORMANCE_RANDOM=1``).
"""

import os
import secrets

import pytest
from hypothesis import HealthCheck, given, settings

from .allowlist import ALLOWED
from .compare import explain, format_differences, transcript_differences
from .replay import replay
from .strategies import scenarios

EXAMPLES = int(os.environ.get("CONFORMANCE_EXAMPLES", "100"))


@pytest.mark.native
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("CONFORMANCE_RANDOM"),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=scenarios())
def test_generated_requests_answer_as_couchdb(scenario, couchdb_server, native_server):
    db = f"conformance-generated-{secrets.token_hex(4)}"
    found = transcript_differences("generated", replay(couchdb_server, scenario, db),
                                   replay(native_server, scenario, db))
    unexplained, _ = explain(found, ALLOWED)
    steps = "\n".join(f"  {step.name}: {step.method} {step.path} {step.query} {step.body!r}"[:400]
                      for step in scenario.steps)
    assert not unexplained, f"steps:\n{steps}\ndifferences:\n{format_differences(unexplained)}"
