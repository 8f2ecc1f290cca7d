"""Issue 12 item 4: the data directory holds the cookie secret and the admins' hashes (``_config.json``)
and every database: it is 0700 and its files 0600, for new servers and for directories an older version
left readable by others."""

import os
import stat

from helpers import http

from browsercouch.store import Couch


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _check_private(data):
    assert _mode(data) == 0o700
    files = sorted(os.listdir(data))
    assert "_config.json" in files and "notes.couch" in files, files
    for name in files:
        assert _mode(data / name) == 0o600, (name, oct(_mode(data / name)))


def test_a_new_server_keeps_its_files_private(tmp_path, browsercouch_factory):
    data = tmp_path / "data"
    server = browsercouch_factory("--data", data, "--admin", "adm:pw")
    auth = server.url.replace("http://", "http://adm:pw@")
    assert http("PUT", auth + "notes")[0] == 201
    assert http("PUT", auth + "notes/doc", {"n": 1})[0] == 201
    _check_private(data)


def test_files_an_older_version_left_open_are_closed(tmp_path):
    data = tmp_path / "data"
    couch = Couch(str(data))
    couch.create_db("notes").put({"_id": "doc"})
    couch.close()
    os.chmod(data, 0o755)
    for name in os.listdir(data):
        os.chmod(data / name, 0o644)
    couch = Couch(str(data))
    couch.get_db("notes")
    try:
        _check_private(data)
    finally:
        couch.close()
