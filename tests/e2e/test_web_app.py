"""The web app driven as a user drives it, in headless Chromium: create a database and documents through
the UI, reload, restart the browser, then replicate through the replication panel to a native
``browsercouch serve`` (with credentials) and to pouchdb-server, pull one back, and compare documents and
revisions everywhere. The last screen is saved as ``tests/artifacts/web-app.png``."""

import base64

from helpers import http, start_browsercouch, start_pouchdb_server
from ui import Ui

NOTES = {"note-1": "buy milk", "note-2": "call Ada", "note-3": "water the plants"}


def _remote_docs(base_url, db, auth=None):
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else None
    status, _, feed = http("GET", f"{base_url}{db}/_all_docs?include_docs=true&conflicts=true",
                           headers=headers)
    assert status == 200, feed
    return {row["id"]: row["doc"] for row in feed["rows"]}


def _tab_docs(app, db):
    status, feed = app.request("GET", f"/{db}/_all_docs?include_docs=true&conflicts=true")
    assert status == 200, feed
    return {row["id"]: row["doc"] for row in feed["rows"]}


def _without_attachment_flags(docs, *flags):
    """Attachment stubs without ``revpos`` and ``flags``, which servers may report differently."""
    for doc in docs.values():
        for stub in doc.get("_attachments", {}).values():
            for flag in ("revpos", *flags):
                stub.pop(flag, None)
    return docs


def test_a_user_creates_reloads_restarts_and_replicates(app, web_url, tmp_path):
    ui = Ui(app.open())
    ui.create_db("notes")
    for doc_id, text in NOTES.items():
        ui.find("#new-doc").click()
        ui.wait(lambda: '"_id"' in ui.find("#doc-editor").get_attribute("value"), "no new document")
        ui.save(f'{{"_id": "{doc_id}", "text": "{text}"}}', "1-")
    ui.wait(lambda: ui.doc_ids() == sorted(NOTES), "the list does not show the new documents")

    ui.find('[data-doc-id="note-1"]').click()
    ui.wait(lambda: '"note-1"' in ui.find("#doc-editor").get_attribute("value"), "note-1 did not open")
    rev1 = ui.text("#doc-rev")
    ui.save(f'{{"_id": "note-1", "_rev": "{rev1}", "text": "buy oat milk"}}', "2-")
    attachment = tmp_path / "hello.txt"
    attachment.write_text("hello from the tab")
    ui.find("#attachment-file").send_keys(str(attachment))
    ui.find("#add-attachment").click()
    ui.find('[data-attachment="hello.txt"]')
    ui.wait(lambda: ui.text("#doc-rev").startswith("3-"), "the attachment made no new revision")
    made = _tab_docs(app, "notes")

    app.reload()
    ui = Ui(app)
    ui.select_db("notes")
    ui.wait(lambda: ui.doc_ids() == sorted(NOTES), "the documents are gone after a reload")
    app.restart()
    ui = Ui(app)
    ui.select_db("notes")
    ui.wait(lambda: ui.doc_ids() == sorted(NOTES), "the documents are gone after a browser restart")
    assert _tab_docs(app, "notes") == made

    native = start_browsercouch("--admin", "admin:s3cret", "--cors", web_url.rstrip("/"))
    pouch = start_pouchdb_server(tmp_path / "pouchdb")
    try:
        ui.replicate(native.url + "notes", "push", "admin", "s3cret")
        ui.replicate(pouch.url + "notes", "push")
        ui.create_db("pulled")
        ui.replicate(pouch.url + "notes", "pull")
        ui.wait(lambda: ui.doc_ids() == sorted(NOTES), "the pulled documents are not listed")

        expected = _without_attachment_flags(made)
        assert _without_attachment_flags(_remote_docs(native.url, "notes", "admin:s3cret")) == expected
        # PouchDB digests the text's own bytes, CouchDB and browsercouch its stored gzip stream: the text
        # comes back from pouchdb-server with PouchDB's digest, which browsercouch keeps (store/encodings).
        pouched, pulled = _remote_docs(pouch.url, "notes"), _tab_docs(app, "pulled")
        assert _without_attachment_flags(pulled) == _without_attachment_flags(pouched)
        assert pulled["note-1"]["_attachments"]["hello.txt"]["digest"] != made["note-1"]["_attachments"][
            "hello.txt"]["digest"]
        assert _without_attachment_flags(pulled, "digest") == _without_attachment_flags(made, "digest")
        status, body = app.request("GET", "/pulled/note-1/hello.txt")
        assert status == 200 and body == "hello from the tab"
    finally:
        native.stop()
        pouch.stop()
    shot = app.screenshot("web-app.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
