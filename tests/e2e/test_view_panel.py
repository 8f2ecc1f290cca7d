"""The web app's view browser driven as a user drives it, in headless Chromium: pick a view, see its rows
in collation order, page forward and back (across two rows with the same key), narrow to a key range,
reduce with each group level and without, and read CouchDB's error for a key that is not JSON.

The main test browses a native ``browsercouch serve`` (``?remote=``), which runs views on V8; the tab's
case browses the tab's own views (QuickJS) and a Mango index (no engine needed). The panel is saved as
``tests/artifacts/web-app-views.png`` (the README shows a copy, in ``docs/images/``).
"""

import json

from helpers import http, start_browsercouch
from ui import Ui

# Keys in CouchDB's view collation order; the two 2s make a page boundary fall between equal keys.
KEYS = [None, False, True, -1, 2, 2, 10, "a", "b", "B", ["a"], {"a": 1}]
DOCS = [{"_id": f"d{(i * 5) % 12:02}", "key": key, "type": "note" if i % 3 else "task", "rank": i % 4}
        for i, key in enumerate(KEYS)]
DESIGN = {"_id": "_design/notes", "views": {
    "by_key": {"map": "function (doc) { if ('key' in doc) emit(doc.key, doc.rank); }"},
    "by_type": {"map": "function (doc) { emit([doc.type, doc.rank], doc.rank); }", "reduce": "_sum"},
}}
PAGE = 5


def _compact(value):
    return json.dumps(value, separators=(",", ":"))


# The map rows as the table shows them (key, value, id), in collation order: equal keys by id.
ORDER = [_compact(key) for key in KEYS]
ROWS = [[_compact(d["key"]), _compact(d["rank"]), d["_id"]]
        for d in sorted(DOCS, key=lambda d: (ORDER.index(_compact(d["key"])), d["_id"]))]

SHOWN = """
const byId = (id) => document.getElementById(id);
return {
  rows: [...document.querySelectorAll("#view-rows tbody tr")]
    .map((tr) => [...tr.cells].map((td) => td.textContent)),
  info: byId("view-page-info").textContent, error: byId("view-error").textContent,
  previous: byId("view-previous").disabled, next: byId("view-next").disabled,
};
"""


def _shown(ui):
    """What the panel shows, read in one step (the table is redrawn whole: elements found before go stale)."""
    return ui.browser.execute_script(SHOWN)


def _press(ui, button):
    """Click ``button`` and return what the panel shows once the answer (or its error) came."""
    ui.browser.execute_script(
        "for (const id of ['view-page-info', 'view-error']) document.getElementById(id).textContent = ''")
    ui.find(button).click()
    return ui.wait(lambda: (lambda shown: shown if shown["info"] or shown["error"] else None)(_shown(ui)),
                   "no answer shown")


def _pick(ui, view):
    ui.find(f'#view-pick option[value="_design/notes/{view}"]').click()


def _load(base_url):
    for method, path, body in [("PUT", "notes", None), ("POST", "notes/_bulk_docs", {"docs": DOCS}),
                               ("PUT", "notes/_design/notes", DESIGN)]:
        status, _, answer = http(method, base_url + path, body)
        assert status in (201, 202), answer


def test_a_user_browses_pages_ranges_and_reduces_a_view(app, web_url):
    server = start_browsercouch("--cors", web_url.rstrip("/"))
    try:
        _load(server.url)
        ui = Ui(app.open(f"index.html?remote={server.url.rstrip('/')}"))
        ui.select_db("notes")
        _pick(ui, "by_key")
        assert ui.find(".for-reduce").get_attribute("hidden") is not None, "by_key has no reduce to offer"
        ui.type("#view-limit", str(PAGE))

        first = _press(ui, "#view-run")
        assert first["rows"] == ROWS[:5], first
        assert first["info"] == "rows 1–5 · offset 0 · total_rows 12"
        assert (first["previous"], first["next"]) == (True, False)
        second = _press(ui, "#view-next")
        assert second["rows"] == ROWS[5:10], second
        assert second["info"] == "rows 6–10 · offset 5 · total_rows 12"
        third = _press(ui, "#view-next")
        assert third["rows"] == ROWS[10:], third
        assert (third["previous"], third["next"]) == (False, True)
        assert _press(ui, "#view-previous") == second
        assert _press(ui, "#view-previous") == first

        ui.find("#view-include-docs").click()
        with_docs = _press(ui, "#view-run")["rows"]
        assert [row[:3] for row in with_docs] == ROWS[:5]
        assert [json.loads(row[3])["_id"] for row in with_docs] == [row[2] for row in ROWS[:5]]
        ui.find("#view-include-docs").click()

        ui.type("#view-startkey", "2")
        ui.type("#view-endkey", '"B"')
        ranged = _press(ui, "#view-run")
        assert ranged["rows"] == ROWS[4:9], ranged
        assert ranged["info"] == "rows 1–5 · offset 4 · total_rows 12" and not ranged["next"], ranged
        rest = _press(ui, "#view-next")
        assert rest["rows"] == ROWS[9:10] and rest["next"], rest
        ui.find("#view-descending").click()
        ui.type("#view-startkey", '"B"')
        ui.type("#view-endkey", "2")
        assert _press(ui, "#view-run")["rows"] == ROWS[5:10][::-1]
        ui.find("#view-descending").click()
        ui.type("#view-startkey", "")
        ui.type("#view-endkey", "")

        _pick(ui, "by_type")
        ui.wait(lambda: ui.find("#view-reduce").is_displayed(), "by_type's reduce is not offered")
        sums = {}
        for doc in DOCS:
            sums[(doc["type"], doc["rank"])] = sums.get((doc["type"], doc["rank"]), 0) + doc["rank"]
        grouped = [[_compact(list(key)), _compact(total), ""] for key, total in sorted(sums.items())]
        exact = _press(ui, "#view-run")
        assert exact["rows"] == grouped[:5] and exact["info"] == "rows 1–5" and not exact["next"], exact
        assert _press(ui, "#view-next")["rows"] == grouped[5:]
        ui.find('#view-group-level option[value="1"]').click()
        by_type = _press(ui, "#view-run")["rows"]
        notes = sum(d["rank"] for d in DOCS if d["type"] == "note")
        tasks = sum(d["rank"] for d in DOCS if d["type"] == "task")
        assert by_type == [['["note"]', str(notes), ""], ['["task"]', str(tasks), ""]]
        ui.find('#view-group-level option[value="none"]').click()
        assert _press(ui, "#view-run")["rows"] == [["null", str(notes + tasks), ""]]
        ui.find("#view-reduce").click()
        unreduced = _press(ui, "#view-run")
        assert unreduced["info"] == "rows 1–5 · offset 0 · total_rows 12", unreduced
        by_type_ids = [d["_id"] for d in sorted(DOCS, key=lambda d: (d["type"], d["rank"], d["_id"]))]
        assert [row[2] for row in unreduced["rows"]] == by_type_ids[:5], unreduced

        ui.type("#view-startkey", "abc")
        failed = _press(ui, "#view-run")
        assert failed["error"] == "bad_request: invalid UTF-8 JSON" and failed["rows"] == [], failed
        ui.type("#view-startkey", "")
        ui.find("#view-reduce").click()
        ui.find('#view-group-level option[value="exact"]').click()
        _press(ui, "#view-run")
        ui.browser.execute_script("document.getElementById('views').scrollIntoView()")
        app.screenshot("web-app-views.png")
    finally:
        server.stop()


def test_in_the_tab_the_panel_browses_the_tabs_views(app):
    ui = Ui(app.open())
    ui.create_db("notes")
    for method, path, body in [("POST", "/notes/_bulk_docs", {"docs": DOCS}),
                               ("PUT", "/notes/_design/notes", DESIGN),
                               ("POST", "/notes/_index", {"index": {"fields": ["type"]}, "ddoc": "mango",
                                                          "name": "by-type"})]:
        status, answer = app.request(method, path, body)
        assert status in (200, 201), answer
    ui.select_db("notes")
    # A Mango index is a view too, answered without a JavaScript engine: its key is [type].
    ui.find('#view-pick option[value="_design/mango/by-type"]').click()
    ui.find("#view-reduce").click()
    shown = _press(ui, "#view-run")
    by_type = sorted(DOCS, key=lambda d: (d["type"], d["_id"]))
    assert shown["rows"] == [[_compact([d["type"]]), "null", d["_id"]] for d in by_type][:20], shown
    ui.select_db("notes")
    _pick(ui, "by_key")
    shown = _press(ui, "#view-run")
    assert shown["rows"] == ROWS and shown["error"] == "", shown
