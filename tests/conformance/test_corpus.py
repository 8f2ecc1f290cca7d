"""The declarative corpus (``corpus/``) replayed against CouchDB 3.4.3 and against browsercouch.

Each scenario is a test: it fails on any difference from CouchDB that no allowlist entry explains,
listing them (``step path: CouchDB ... / ours ...``). ``test_every_allowlist_entry_is_needed`` fails on
an entry that explains nothing any more, so a fixed difference leaves the allowlist and the corpus keeps
it fixed. The tab (``browsercouch browser --headless``) runs the same scenarios where Chromium is here,
except those that need admins (the tab serves loopback as an admin party). Two controls keep the
comparison honest: CouchDB replayed against itself differs in nothing, and a changed answer fails.
"""

import copy

import pytest
from helpers import start_browser_server

from browsercouch import launcher

from .allowlist import ALLOWED
from .compare import explain, format_differences, transcript_differences
from .corpus import SCENARIOS
from .replay import Server
from .steps import PLACEHOLDER

MIN_REQUESTS = 300


def _ids(scenario):
    return scenario.name


def _check(found):
    unexplained, _ = explain(found, ALLOWED)
    assert not unexplained, "differences from CouchDB 3.4.3:\n" + format_differences(unexplained)


def test_corpus_size():
    assert sum(len(scenario.steps) for scenario in SCENARIOS) >= MIN_REQUESTS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=_ids)
def test_steps_are_named_once_and_use_only_saved_values(scenario):
    names, saved = set(), {"db"}
    for step in [*scenario.setup, *scenario.steps]:
        assert step.name not in names, f"{scenario.name}: two steps named {step.name}"
        names.add(step.name)
        texts = [step.path, *map(str, step.query.values()), *step.headers.values(), str(step.body)]
        used = {name for text in texts for name in PLACEHOLDER.findall(text)}
        assert used <= saved, f"{scenario.name}:{step.name} uses {used - saved} before any step saves it"
        saved.update(step.save)


@pytest.mark.native
@pytest.mark.parametrize("scenario", SCENARIOS, ids=_ids)
def test_native_answers_as_couchdb(scenario, replays, native_server):
    _check(replays.differences(native_server, scenario))


@pytest.mark.native
def test_every_allowlist_entry_is_needed(replays, native_server):
    used = set()
    for scenario in SCENARIOS:
        used |= explain(replays.differences(native_server, scenario), ALLOWED)[1]
    stale = [entry for entry in ALLOWED if entry not in used and not entry.step.startswith("generated:")]
    assert not stale, "allowlist entries that explain no difference any more (remove them):\n" + "\n".join(
        f"{entry.step} {entry.where}: {entry.reason}" for entry in stale)


CONTROLS = [scenario for scenario in SCENARIOS if scenario.name in ("documents", "changes", "attachments")]


@pytest.mark.native
@pytest.mark.parametrize("scenario", CONTROLS, ids=_ids)
def test_couchdb_answers_as_itself(scenario, replays, couchdb_server):
    """Control: CouchDB replayed again on a fresh database differs from itself in nothing, so what
    normalisation leaves (times, uuids, sequences, revs) is no noise that the allowlist would hide."""
    again = Server("couchdb-again", couchdb_server.url, couchdb_server.admin)
    assert replays.differences(again, scenario) == []


@pytest.mark.native
def test_a_changed_answer_is_an_unexplained_difference(replays, native_server):
    """Control: the comparison fails on a real difference, here a status and an ETag changed in our
    answers to the documents scenario."""
    scenario = next(s for s in SCENARIOS if s.name == "documents")
    couchdb, ours = replays.answers(replays.couchdb, scenario), copy.deepcopy(replays.answers(native_server,
                                                                                            scenario))
    step, answer = ours[1]
    answer["status"], answer["headers"]["etag"] = 500, '"1-x"'
    unexplained, _ = explain(transcript_differences(scenario.name, couchdb, ours), ALLOWED)
    assert {(d.step, d.where) for d in unexplained} == {(f"documents:{step}", "status"),
                                                       (f"documents:{step}", "headers.etag")}


@pytest.fixture(scope="module")
def tab_server(tmp_path_factory):
    reason = launcher.missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_browser_server(tmp_path_factory.mktemp("conformance-tab") / "profile")
    yield Server("tab", server.url, "admin:password")
    server.stop()


@pytest.mark.native
@pytest.mark.chromium
@pytest.mark.slow
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if not s.needs_admins], ids=_ids)
def test_tab_answers_as_couchdb(scenario, replays, tab_server):
    _check(replays.differences(tab_server, scenario))
