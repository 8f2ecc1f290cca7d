"""The corpus language (``steps.py``): templating from saved values, and reading values out of answers."""

import json

import pytest

from .steps import ANONYMOUS, Step, extract, render, step

put, get = step("PUT"), step("GET")


def test_a_step_is_filled_in_from_its_server_context():
    request = render(put("x", "/{db}/doc", {"_rev": "{r}", "seq": "{s}", "note": "rev {r}"},
                         query={"rev": "{r}", "keys": ["{r}"], "limit": 2, "descending": True},
                         headers={"If-Match": "{r}"}, auth="u-{db}:pw"),
                     {"db": "d1", "r": "1-abc", "s": 7})
    assert request.path == "/d1/doc"
    assert request.query == [("rev", "1-abc"), ("keys", '["1-abc"]'), ("limit", "2"), ("descending", "true")]
    assert request.headers == {"If-Match": "1-abc", "Content-Type": "application/json"}
    # A whole-string placeholder keeps the saved value's type; inside a longer string it is text.
    assert json.loads(request.body) == {"_rev": "1-abc", "seq": 7, "note": "rev 1-abc"}
    assert request.auth == "u-d1:pw"


def test_bytes_go_untouched_and_a_given_content_type_wins():
    request = render(put("x", "/{db}/d", b'{"{r}":', headers={"Content-Type": "text/plain"}), {"db": "d"})
    assert request.body == b'{"{r}":' and request.headers == {"Content-Type": "text/plain"}
    assert render(get("y", "/", auth=ANONYMOUS), {}).auth is None


def test_a_value_used_before_it_is_saved_is_a_corpus_error():
    with pytest.raises(KeyError, match="r"):
        render(get("x", "/{db}/doc", query={"rev": "{r}"}), {"db": "d"})


class _Headers(dict):
    def get(self, name, default=None):
        return next((v for k, v in self.items() if k.lower() == name.lower()), default)


@pytest.mark.parametrize("source, expected", [
    ("rev", "1-a"), ("rows.1.id", "b"), ("rows.5.id", None), ("nope", None),
    ("header:ETag", '"1-a"'), ("cookie:AuthSession", "abc=="), ("cookie:Other", None),
])
def test_extract(source, expected):
    headers = _Headers({"etag": '"1-a"', "set-cookie": "AuthSession=abc==; Version=1; Path=/"})
    payload = {"rev": "1-a", "rows": [{"id": "a"}, {"id": "b"}]}
    assert extract(source, headers, payload) == expected


def test_steps_are_data():
    assert put("x", "/a", {"v": 1}) == Step("x", "PUT", "/a", {"v": 1})
