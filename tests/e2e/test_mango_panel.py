"""The web app's Mango panel driven as a user drives it, in headless Chromium: create an index from the form,
find with a sort it serves, page with the bookmark, see _explain choose the index, read a query's error,
and delete the index. The panel is saved as ``tests/artifacts/web-app-mango.png``."""

import json

from ui import Ui

DOCS = [{"_id": f"n{i:02}", "type": "note" if i % 2 else "task", "rank": (i * 7) % 10} for i in range(20)]


def _settled(ui):
    """What the panel shows once an answer came (while a request is on its way, its line is shown)."""
    text = ui.text("#mango-result")
    return None if not text or text.startswith("POST ") else text


def _result(ui):
    return json.loads(_settled(ui) or "null")


def _ask(ui, button, query):
    ui.browser.execute_script("document.querySelector('#mango-query').value = arguments[0]",
                              json.dumps(query))
    ui.browser.execute_script("document.querySelector('#mango-result').textContent = ''")
    ui.find(button).click()
    ui.wait(lambda: _settled(ui), "no answer shown")


def _indexes(ui):
    """The names listed, read in one step: the list is redrawn whole, so elements found earlier go stale."""
    return ui.browser.execute_script(
        "return [...document.querySelectorAll('#index-list li')].map((row) => row.dataset.index)")


def test_a_user_indexes_finds_pages_explains_and_deletes(app):
    app.open()
    ui = Ui(app)
    ui.create_db("notes")
    status, answer = app.request("POST", "/notes/_bulk_docs", {"docs": DOCS})
    assert status == 201, answer
    ui.wait(lambda: _indexes(ui) == ["_all_docs"], "the special index is not listed")

    ui.type("#index-fields", "type, rank")
    ui.type("#index-name", "by-type-rank")
    ui.find("#index-create").click()
    ui.wait(lambda: "by-type-rank" in _indexes(ui), f"the new index is not listed: {ui.text('#index-error')}")

    query = {"selector": {"type": "note"}, "sort": [{"type": "asc"}, {"rank": "asc"}], "limit": 6,
             "fields": ["_id", "rank"]}
    _ask(ui, "#mango-find", query)
    first = _result(ui)
    expected = sorted((d for d in DOCS if d["type"] == "note"), key=lambda d: (d["rank"], d["_id"]))
    assert [d["_id"] for d in first["docs"]] == [d["_id"] for d in expected[:6]]
    assert "warning" not in first

    ui.find("#mango-next").click()
    ui.wait(lambda: (_result(ui) or first).get("bookmark") != first["bookmark"], "the next page did not come")
    assert [d["_id"] for d in _result(ui)["docs"]] == [d["_id"] for d in expected[6:12]]

    _ask(ui, "#mango-explain", query)
    assert _result(ui)["index"]["name"] == "by-type-rank"

    _ask(ui, "#mango-find", {"selector": {"rank": {"$bogus": 1}}})
    assert "invalid_operator" in ui.text("#mango-result")
    assert "error" in ui.find("#mango-result").get_attribute("class")
    app.screenshot("web-app-mango.png")

    ui.find('[data-delete-index="by-type-rank"]').click()
    ui.wait(lambda: _indexes(ui) == ["_all_docs"], "the deleted index is still listed")
    status, listed = app.request("GET", "/notes/_index")
    assert [index["name"] for index in listed["indexes"]] == ["_all_docs"]
