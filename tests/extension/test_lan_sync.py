"""Chrome to Chrome on a LAN (issue 14, part 1): two browsers, each in its own network namespace, joined
by a veth pair (``tests/lan.py``), both serving the LAN through the extension and its socket bridge.

- They find each other: each bridge announces its tab with DNS-SD over mDNS and browses, and each
  extension's status (the Peers view's source) lists the other with its uuid, LAN URL and login.
- Alice picks Bob in her Peers view (Selenium clicks through it), gives his password and starts a live
  sync of ``notes``: two ``_replicator`` documents. 1,000 documents with attachments, half written on
  each side, end up on both with the same leaves.
- An edit on either side shows on the other within 2 s.
- The same document edited on both sides while the veth is down ends, once it is up again, with the
  same winner and the same ``_conflicts`` on both.
- Alice's browser, which runs the sync, is killed (SIGKILL) while it pulls new documents; started again
  on the same profile it serves again, its sync resumes from its checkpoint and completes.

Screens of the Peers view (the web app's and the popup's) are saved in ``tests/artifacts/``. Every
request goes to 127.0.0.1 inside a namespace this module made (through ``forward.py``) or between them.
"""

import base64
import time

import lan
import pytest
from helpers import REPO, http

from browsercouch import launcher

LAN_MISSING = lan.missing_reason() or launcher.missing_reason()
pytestmark = [pytest.mark.chromium, pytest.mark.slow,
              pytest.mark.skipif(LAN_MISSING is not None, reason=LAN_MISSING or "")]

ARTIFACTS = REPO / "tests" / "artifacts"
DB = "notes"
DOCS_PER_SIDE = 500
# Documents Bob writes while Alice's browser is killed mid-pull.
LATE_DOCS = 600
# ... once she has this many of them (a checkpoint is written after each batch of 100).
KILL_AFTER = 200
ADMINS = ("admin:alice-s3cret", "admin:bob-s3cret")
SYNC_TIMEOUT = 120.0
EDIT_WITHIN = 2.0
# Seconds for the link, once up again, to carry the conflicting edits both ways (retries back off).
HEAL_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def pair():
    """``(lan, [alice, bob])``: both serving the LAN, each with an empty ``notes``."""
    with lan.lan() as net:
        browsers = [lan.LanBrowser(net, index, name, admin)
                    for index, (name, admin) in enumerate(zip(("Alice", "Bob"), ADMINS, strict=True))]
        try:
            for browser in browsers:
                browser.open()
            for browser in browsers:
                browser.serve()
                assert http("PUT", db_url(browser))[0] == 201
            yield net, browsers
        finally:
            for browser in browsers:
                browser.quit()


def base_url(browser):
    return browser.url.replace("http://", f"http://{browser.admin}@")


def db_url(browser):
    return base_url(browser) + DB


def write(browser, docs):
    status, _, answer = http("POST", db_url(browser) + "/_bulk_docs", {"docs": docs}, timeout=120)
    assert status == 201 and all("rev" in row for row in answer), answer
    return answer


def new_docs(prefix, count, start=0):
    """``count`` documents, each with a small text attachment."""
    return [{"_id": f"{prefix}-{n:04d}", "n": n, "side": prefix, "_attachments": {"note.txt": {
        "content_type": "text/plain", "data": base64.b64encode(f"{prefix} {n} ".encode() * 20).decode()}}}
        for n in range(start, start + count)]


def snapshot(browser):
    """``{id: (rev, conflicts, body, attachment digests)}`` of every document."""
    query = "/_all_docs?include_docs=true&conflicts=true"
    status, _, answer = http("GET", db_url(browser) + query, timeout=60)
    assert status == 200, answer
    found = {}
    for row in answer["rows"]:
        doc = dict(row["doc"])
        atts = {name: att["digest"] for name, att in doc.pop("_attachments", {}).items()}
        found[row["id"]] = (doc.pop("_rev"), tuple(doc.pop("_conflicts", ())), doc, atts)
    return found


def doc_count(browser):
    return http("GET", db_url(browser))[2]["doc_count"]


def wait_for(check, timeout, what):
    """``check()`` once true; ``what`` (or ``what()``) says what did not happen in time."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what() if callable(what) else what}: not within {timeout} s"
        time.sleep(0.1)
    return result


def report(*browsers):
    """Document counts and the sync jobs, for failure messages."""
    return [(browser.name, doc_count(browser), http("GET", base_url(browser) + "_scheduler/docs")[2])
            for browser in browsers]


def uuid_of(browser):
    return http("GET", base_url(browser))[2]["uuid"]


def test_two_browsers_on_a_lan_find_each_other(pair):
    net, browsers = pair
    for me, other in (browsers, browsers[::-1]):
        peers = wait_for(lambda me=me: me.status()["peers"], 20, f"{me.name} finding a peer")
        assert [(peer["uuid"], peer["name"], peer["url"], peer["auth"], peer["kind"]) for peer in peers] == [
            (uuid_of(other), other.name, other.lan_url, True, "browser")], peers


def test_a_live_sync_from_the_peers_view_moves_1000_documents_with_attachments_both_ways(pair):
    net, (alice, bob) = pair
    write(alice, new_docs("alice", DOCS_PER_SIDE))
    write(bob, new_docs("bob", DOCS_PER_SIDE))
    started = time.monotonic()
    choose_and_sync(alice, "Bob", bob.admin.split(":", 1)[1])
    wait_for(lambda: doc_count(alice) == doc_count(bob) == 2 * DOCS_PER_SIDE, SYNC_TIMEOUT,
             lambda: f"1,000 documents on both: {report(alice, bob)}")
    print(f"live sync of {2 * DOCS_PER_SIDE} documents with attachments: {time.monotonic() - started:.1f} s")
    assert snapshot(alice) == snapshot(bob)
    states = wait_for(lambda: sync_states(alice) if set(sync_states(alice).values()) == {"running"} else None,
                      20, "both syncs shown running")
    assert sorted(states) == [f"peer-{uuid_of(bob)}-notes-notes-{leg}" for leg in ("pull", "push")]
    wait_for(lambda: all_caught_up(alice), 20, "the Peers view showing both syncs caught up")
    ARTIFACTS.mkdir(exist_ok=True)
    alice.driver.save_screenshot(str(ARTIFACTS / "peers-view.png"))
    alice.driver.get(lan.ORIGIN + "popup.html")
    wait_for(lambda: all_caught_up(alice), 30, "the popup's Peers view showing the syncs caught up")
    alice.driver.save_screenshot(str(ARTIFACTS / "peers-popup.png"))
    open_app(alice)


def open_app(browser):
    browser.driver.get(lan.ORIGIN + "app/index.html")
    wait_for(lambda: browser.driver.execute_script("return document.body.dataset.ready") == "1", 60,
             "the web app")


def choose_and_sync(browser, peer_name, password, db=DB, direction="sync", live=True):
    """Through the web app's Peers view: pick the peer, log in, sync ``db`` (live and both ways: the
    form's defaults)."""
    open_app(browser)
    driver = browser.driver
    selector = f'.peer-list li[data-name="{peer_name}"] button'
    wait_for(lambda: driver.find_elements("css selector", selector), 20, f"{peer_name} in the Peers view")
    driver.find_element("css selector", selector).click()
    driver.find_element("id", "peer-password").send_keys(password)
    driver.find_element("id", "peer-local-db").send_keys(db)
    assert driver.find_element("id", "peer-direction").get_attribute("value") == "sync"
    assert driver.find_element("id", "peer-live").is_selected()
    if direction != "sync":
        driver.find_element("css selector", f'#peer-direction option[value="{direction}"]').click()
    if not live:
        driver.find_element("id", "peer-live").click()
    driver.find_element("id", "peer-start").click()


def all_caught_up(browser):
    """Whether the Peers view shows two running syncs with nothing pending."""
    return browser.driver.execute_script(
        "const rows = [...document.querySelectorAll('.sync-list li[data-state=running] .written')];"
        "return rows.length === 2 && rows.every((row) => row.textContent.endsWith(' 0 pending'))")


def sync_states(browser):
    """``{doc_id: state}`` as the Peers view shows its syncs."""
    return browser.driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.sync-list li[data-id]')]"
        ".map((li) => [li.dataset.id, li.dataset.state]))")


def test_a_one_shot_push_from_the_peers_view_completes(pair):
    net, (alice, bob) = pair
    assert http("PUT", base_url(alice) + "photos")[0] == 201
    status, _, answer = http("POST", base_url(alice) + "photos/_bulk_docs", {"docs": new_docs("photo", 20)})
    assert status == 201, answer
    choose_and_sync(alice, "Bob", bob.admin.split(":", 1)[1], db="photos", direction="push", live=False)
    doc_id = f"peer-{uuid_of(bob)}-photos-photos-push"
    wait_for(lambda: sync_states(alice).get(doc_id) == "completed", 30,
             lambda: f"the one-shot push shown completed: {sync_states(alice)}")
    assert http("GET", base_url(bob) + "photos")[2]["doc_count"] == 20
    assert set(sync_states(alice).values()) == {"running", "completed"}  # the live syncs go on


def test_an_edit_on_either_side_shows_on_the_other_within_2_s(pair):
    net, browsers = pair
    for writer, reader in (browsers, browsers[::-1]):
        url = f"{db_url(writer)}/alice-0000"
        doc = http("GET", url)[2]
        status, _, answer = http("PUT", url, {**doc, "edited_by": writer.name})
        assert status == 201, answer
        written = time.monotonic()
        wait_for(lambda reader=reader, rev=answer["rev"]: http("GET", f"{db_url(reader)}/alice-0000")[2].get(
            "_rev") == rev, EDIT_WITHIN, f"{writer.name}'s edit on {reader.name}")
        print(f"{writer.name} -> {reader.name}: {time.monotonic() - written:.2f} s")


def test_edits_on_both_sides_while_the_link_is_down_end_with_the_same_winner_and_conflicts(pair):
    net, browsers = pair
    net.link(False)
    try:
        for browser in browsers:
            url = f"{db_url(browser)}/bob-0001"
            doc = http("GET", url)[2]
            assert http("PUT", url, {**doc, "offline_edit_by": browser.name})[0] == 201
    finally:
        net.link(True)

    def settled():
        docs = [http("GET", f"{db_url(browser)}/bob-0001?conflicts=true")[2] for browser in browsers]
        return docs if docs[0] == docs[1] and len(docs[0].get("_conflicts", [])) == 1 else None

    alice_doc, _ = wait_for(settled, HEAL_TIMEOUT, "the same winner and _conflicts on both")
    assert alice_doc["offline_edit_by"] in ("Alice", "Bob")


def test_a_browser_killed_mid_sync_resumes_from_its_checkpoint_and_completes(pair):
    net, (alice, bob) = pair
    before = doc_count(alice)
    write(bob, new_docs("late", LATE_DOCS))
    wait_for(lambda: doc_count(alice) > before + KILL_AFTER, SYNC_TIMEOUT,
             lambda: f"Alice pulling Bob's late documents: {report(alice)}")
    alice.kill()
    alice.open()
    alice.driver.get(lan.ORIGIN + "popup.html")
    alice.wait_serving()  # serving resumes by itself: the setting persisted
    reached = doc_count(alice)
    print(f"Alice had {reached - before} of {LATE_DOCS} late documents after her restart")
    wait_for(lambda: doc_count(alice) == before + LATE_DOCS, SYNC_TIMEOUT,
             lambda: f"the late documents on Alice: {report(alice)}")
    assert snapshot(alice) == snapshot(bob)
    pull = f"peer-{uuid_of(bob)}-notes-notes-pull"
    status, _, job = http("GET", f"{base_url(alice)}_scheduler/docs/_replicator/{pull}")
    assert status == 200 and job["state"] == "running", job
    assert job["info"]["docs_read"] < LATE_DOCS, job  # it went on from its checkpoint, not from the start

