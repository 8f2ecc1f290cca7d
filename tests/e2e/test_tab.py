"""browsercouch in a real Chromium tab: what the tab stores survives a reload, a browser restart and a
browser killed right after a write was acknowledged; the tab replicates with remote peers through
``fetch`` (a native browsercouch with credentials and CORS, and pouchdb-server)."""

import base64
import urllib.parse

import chromium
from helpers import http, start_browsercouch, start_pouchdb_server


def test_writes_survive_reload_restart_and_a_killed_browser(app):
    app.open()
    assert app.request("PUT", "/keep")[0] == 201
    status, saved = app.request("PUT", "/keep/one", {"n": 1})
    assert status == 201

    app.reload()
    assert app.request("GET", "/keep/one")[1]["_rev"] == saved["rev"]

    app.restart()
    assert app.request("GET", "/keep/one")[1]["_rev"] == saved["rev"]

    status, two = app.request("PUT", "/keep/two", {"n": 2})
    assert status == 201
    app.crash()  # the acknowledgement came back: the write must already be on disk (OPFS)
    app.open()
    assert app.request("GET", "/keep/two")[1]["_rev"] == two["rev"]
    assert app.request("GET", "/keep")[1]["doc_count"] == 2


# Run in a page of the app's origin before the app ever ran there: browsercouch in the page's own Pyodide
# writes a database and saves it to IndexedDB with web/file-store.js, as versions before OPFS did.
SAVE_AS_BEFORE_OPFS = """
const done = arguments[0];
(async () => {
  const { loadPyodide } = await import("./dist/pyodide.mjs");
  const { openFileStore } = await import("./file-store.js");
  const pyodide = await loadPyodide({ indexURL: new URL("./dist/", location.href).href });
  await pyodide.loadPackage(["browsercouch"], { messageCallback: () => {} });
  pyodide.FS.mkdirTree("/browsercouch");
  const files = await openFileStore();
  files.track(pyodide.FS, "/browsercouch");
  const tab = await pyodide.pyimport("browsercouch.tab.entry").open_tab(
    "/browsercouch", (paths) => files.save(pyodide.FS, paths.toJs()));
  const put = (path, body) => tab.request("PUT", path, { "content-type": "application/json" },
                                          new TextEncoder().encode(JSON.stringify(body)));
  await put("/older", {});
  const response = await put("/older/doc", { kept: "since IndexedDB" });
  return response.status;
})().then(done, (error) => done(String(error && error.stack || error)));
"""

DATABASES_SCRIPT = """
const done = arguments[0];
indexedDB.databases().then((dbs) => done(dbs.map(({ name }) => name)), (e) => done(String(e)));
"""


def test_files_saved_in_indexeddb_by_an_earlier_version_move_to_opfs(app):
    app.browser = chromium.launch(app.profile)
    app.browser.get(app.web_url + "style.css")  # the app's origin, without the app
    assert app.browser.execute_async_script(SAVE_AS_BEFORE_OPFS) == 201
    assert "browsercouch-files" in app.browser.execute_async_script(DATABASES_SCRIPT)
    app.quit()

    app.open()
    assert app.browser.execute_script("return window.browsercouch.couch.info.storage") == "OPFS"
    assert app.request("GET", "/older/doc")[1]["kept"] == "since IndexedDB"
    assert "browsercouch-files" not in app.browser.execute_async_script(DATABASES_SCRIPT)
    assert app.request("PUT", "/older/next", {"n": 2})[0] == 201
    app.restart()  # now from OPFS alone
    assert app.request("GET", "/older/doc")[1]["kept"] == "since IndexedDB"
    assert app.request("GET", "/older/next")[1]["n"] == 2


def test_the_longest_database_name_with_every_allowed_sign_is_kept(app):
    """OPFS names its files after their paths: a 238-character name full of signs that get escaped
    (``/`` twice over) must still be saved and loaded."""
    name = "a" + "/$()+-_" * 33 + "z" * 6
    assert len(name) == 238
    path = "/" + urllib.parse.quote(name, safe="")
    assert app.open().request("PUT", path)[0] == 201
    assert app.request("PUT", f"{path}/doc", {"kept": True})[0] == 201
    app.crash()
    app.open()
    assert app.request("GET", f"{path}/doc")[1]["kept"] is True


def test_chunked_saves_rebuild_every_file_exactly(app):
    """Saves write only the changed chunks of a file: after growing writes, a compaction that shrinks the
    file, more writes and a deleted database, a restarted browser must load exactly what the tab had."""
    app.open()
    for db in ("grows", "dropped"):
        assert app.request("PUT", f"/{db}")[0] == 201
    for round_ in range(3):
        docs = [{"_id": f"r{round_}-{i:04d}", "pad": "x" * 500} for i in range(400)]
        assert app.request("POST", "/grows/_bulk_docs", {"docs": docs})[0] == 201
    deletions = [{"_id": f"r0-{i:04d}", "_rev": rev, "_deleted": True}
                 for i, rev in enumerate(row["value"]["rev"] for row in
                                         app.request("GET", "/grows/_all_docs?limit=400")[1]["rows"])]
    assert app.request("POST", "/grows/_bulk_docs", {"docs": deletions})[0] == 201
    assert app.request("POST", "/grows/_compact")[0] == 202
    assert app.request("PUT", "/grows/last", {"after": "compaction"})[0] == 201
    assert app.request("DELETE", "/dropped")[0] == 200
    before = app.request("GET", "/grows/_all_docs?include_docs=true")[1]["rows"]
    app.crash()
    app.open()
    assert app.request("GET", "/grows/_all_docs?include_docs=true")[1]["rows"] == before
    assert len(before) == 801
    assert app.request("GET", "/_all_dbs")[1] == ["grows"]


def test_two_tabs_share_one_set_of_databases(app):
    """Every tab of the app joins one shared worker: a write in one is read in the other (separate
    copies would each save over the other's file), and a write acknowledged after the tab whose file
    writer was in use closed is on disk too."""
    app.open()
    first = app.browser.current_window_handle
    app.browser.switch_to.new_window("tab")
    app.browser.get(app.web_url + "index.html")
    app._wait_ready()
    assert app.request("PUT", "/shared")[0] == 201
    assert app.request("PUT", "/shared/from-second", {"tab": 2})[0] == 201
    second = app.browser.current_window_handle
    app.browser.switch_to.window(first)
    assert app.request("GET", "/shared/from-second")[1]["tab"] == 2
    assert app.request("PUT", "/shared/from-first", {"tab": 1})[0] == 201
    # The first tab's file writer saved so far; once it is closed, the second tab's takes over.
    app.browser.close()
    app.browser.switch_to.window(second)
    assert app.request("PUT", "/shared/after-first-closed", {"tab": 2})[0] == 201
    app.crash()
    app.open()
    assert app.request("GET", "/shared")[1]["doc_count"] == 3


def _revs(base_url, db, auth=None):
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else None
    status, _, feed = http("GET", f"{base_url}{db}/_changes?style=all_docs", headers=headers)
    assert status == 200
    return {row["id"]: sorted(c["rev"] for c in row["changes"]) for row in feed["results"]}


def _tab_revs(app, db):
    status, feed = app.request("GET", f"/{db}/_changes?style=all_docs")
    assert status == 200
    return {row["id"]: sorted(c["rev"] for c in row["changes"]) for row in feed["results"]}


def _fill_with_a_conflict(app, db):
    assert app.request("PUT", f"/{db}")[0] == 201
    docs = [{"_id": f"doc{i:03d}", "n": i} for i in range(150)]
    assert app.request("POST", f"/{db}/_bulk_docs", {"docs": docs})[0] == 201
    # A conflict, as replication makes them: two branches of one document.
    branches = [{"_id": "doc000", "_rev": rev, "side": rev} for rev in ("2-aaaa", "2-bbbb")]
    status, _ = app.request("POST", f"/{db}/_bulk_docs", {"docs": branches, "new_edits": False})
    assert status == 201


def test_replicates_with_a_native_server_through_fetch(app, web_url):
    origin = web_url.rstrip("/")
    server = start_browsercouch("--admin", "admin:s3cret", "--cors", origin)
    try:
        app.open()
        _fill_with_a_conflict(app, "local")
        remote = {"url": server.url + "copy",
                  "headers": {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}}

        status, result = app.request("POST", "/_replicate",
                                     {"source": "local", "target": remote, "create_target": True})
        assert status == 200 and result["ok"], result
        assert _revs(server.url, "copy", "admin:s3cret") == _tab_revs(app, "local")

        status, result = app.request("POST", "/_replicate", {"source": remote, "target": "back",
                                                             "create_target": True})
        assert status == 200 and result["ok"], result
        assert _tab_revs(app, "back") == _tab_revs(app, "local")
        assert app.request("GET", "/back/doc000?conflicts=true")[1]["_conflicts"]

        # Wrong credentials: a clear error, not a hang.
        wrong = {**remote, "headers": {"Authorization": "Basic " + base64.b64encode(b"admin:no").decode()}}
        status, result = app.request("POST", "/_replicate", {"source": "local", "target": wrong})
        assert status in (401, 403, 500) and "error" in result, result
    finally:
        server.stop()


def test_replicates_with_pouchdb_server_through_fetch(app, tmp_path):
    server = start_pouchdb_server(tmp_path / "pouchdb")
    try:
        app.open()
        _fill_with_a_conflict(app, "local")
        status, result = app.request("POST", "/_replicate", {"source": "local", "target": server.url + "copy",
                                                             "create_target": True})
        assert status == 200 and result["ok"], result
        assert _revs(server.url, "copy") == _tab_revs(app, "local")
        status, result = app.request("POST", "/_replicate", {"source": server.url + "copy", "target": "back",
                                                             "create_target": True})
        assert status == 200 and result["ok"], result
        assert _tab_revs(app, "back") == _tab_revs(app, "local")
    finally:
        server.stop()
