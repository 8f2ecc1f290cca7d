"""Mango in the tab (issue 16): the extension's Pyodide server answers ``_index``, ``_find`` and
``_explain`` as the native server does, from the same store code."""

from helpers import http


def test_the_tab_answers_mango_as_the_native_server(tab, native):
    answers = []
    for base in (f"http://127.0.0.1:{tab.port}/", native.url):
        db = base + "tabfind"
        assert http("PUT", db)[0] == 201
        docs = [{"_id": f"d{n:02d}", "n": n, "kind": "ab"[n % 2]} for n in range(20)]
        assert http("POST", db + "/_bulk_docs", {"docs": docs})[0] == 201
        index = http("POST", db + "/_index", {"index": {"fields": ["kind", "n"]}, "ddoc": "k"})
        query = {"selector": {"kind": "b", "n": {"$gt": 10}}, "sort": ["kind", "n"], "fields": ["_id", "n"],
                 "execution_stats": True}
        found = http("POST", db + "/_find", query)
        plan = http("POST", db + "/_explain", {"selector": {"kind": "b"}})
        unsorted = http("POST", db + "/_find", {"selector": {"n": 1}, "sort": ["n"]})
        stats = found[2].pop("execution_stats")
        stats.pop("execution_time_ms")
        answers.append((index[2], found[0], found[2], stats, plan[2]["index"]["ddoc"], unsorted[0],
                        unsorted[2]))
        assert http("DELETE", db)[0] == 200
    tab_answer, native_answer = answers
    assert tab_answer == native_answer
    assert [doc["n"] for doc in tab_answer[2]["docs"]] == [11, 13, 15, 17, 19]
