"""The layers import downwards only, and each layer's public face is pinned (STYLE.md rules 1 and 11)."""

import ast
import importlib
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "browsercouch"

# What each part of the package may import from browsercouch itself. Anything not listed is an upward or
# sideways edge. ``errors`` is the shared vocabulary every layer may raise.
ALLOWED = {
    "errors": set(),
    "store": {"errors", "store"},
    "http": {"http"},
    "replicator": {"errors", "store", "http", "replicator"},
    "api": {"errors", "store", "http", "replicator", "api", "__init__"},
    "cli": {"errors", "store", "api", "http", "replicator", "static", "bridge", "launcher", "bundled",
            "hashing", "discovery", "jsengine", "webrtc", "__init__"},
    "hashing": set(),
    "jsengine": {"errors"},
    "launcher": {"bridge", "bundled"},
    "bundled": set(),
    "bridge": {"bridge", "frames", "discovery"},
    "frames": set(),
    "discovery": set(),
    "static": set(),
    "tab": {"errors", "store", "api", "http", "replicator", "frames", "tab"},
    # The native WebRTC peer: the tab's links (tab/peers.py, plain Python) over aiortc.
    "webrtc": {"tab", "http"},
    "__main__": {"cli"},
    "__init__": set(),
}
# Third-party modules only some parts may import: js/pyodide the tab, websockets the bridge, aiortc and
# its ICE the native WebRTC peer, zeroconf LAN discovery, mini-racer the native JavaScript engine; uvicorn
# none (a test dependency: the package serves with its own driver, natively too).
RESTRICTED = {"uvicorn": set(), "js": {"tab"}, "pyodide": {"tab"}, "websockets": {"bridge"},
              "aiortc": {"webrtc"}, "aioice": {"webrtc"}, "zeroconf": {"discovery"},
              "py_mini_racer": {"jsengine"}}

PUBLIC = {
    "browsercouch.store": {"Couch", "Database", "ChangeRow", "FeedEnd", "revtree", "encodings",
                           "validate_db_name", "canonical_json", "compact_json", "views", "reduce"},
    "browsercouch.api": {"CouchApp", "PAGE_EXTENSION", "hash_password", "format_admin_hash",
                         "parse_admin_hash", "pbkdf2_inline"},
    "browsercouch.replicator": {
        "replicate", "Replication", "ReplicationError", "ReplicationOptions", "Stats", "Backoff",
        "Endpoint", "LocalEndpoint", "RemoteEndpoint", "PeerUnavailable", "BadPeerResponse", "open_endpoint",
        "replication_id",
        "compare_replication_logs",
    },
    "browsercouch.tab": {"PeerLink", "PeerRouter"},
}


def _part(path):
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path):
    """``(browsercouch_parts, top_level_modules)`` imported by one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = path.relative_to(PACKAGE).parts[:-1]
    inner, outer = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _classify(alias.name, inner, outer)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = list(base) + (node.module.split(".") if node.module else [])
                names = [target] if node.module else [target + [a.name] for a in node.names]
                for parts in names:
                    inner.add(parts[0] if parts and _is_module(parts[0]) else "__init__")
            else:
                _classify(node.module, inner, outer)
    return inner, outer


def _is_module(name):
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()


def _classify(module, inner, outer):
    parts = module.split(".")
    if parts[0] == "browsercouch":
        inner.add(parts[1] if len(parts) > 1 else "__init__")
    else:
        outer.add(parts[0])


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    part = _part(path)
    inner, outer = _imports(path)
    allowed = ALLOWED.get(part)
    assert allowed is not None, f"{part} has no entry in ALLOWED: decide where it sits"
    assert inner <= allowed | {part}, f"{path.name} imports {sorted(inner - allowed - {part})}"
    for module, owners in RESTRICTED.items():
        assert module not in outer or part in owners, f"{path.name} imports {module}"


def test_the_checker_sees_a_bad_edge(tmp_path):
    """The walker must catch a relative import that climbs into another layer."""
    bad = PACKAGE / "store" / "_layer_probe.py"
    bad.write_text("from ..api import CouchApp\n", encoding="utf-8")
    try:
        inner, _ = _imports(bad)
    finally:
        bad.unlink()
    assert "api" in inner and not inner <= ALLOWED["store"] | {"store"}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned(module):
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:
        assert hasattr(mod, name)


def _cross_layer_imports(path):
    """``(layer, submodule path, imported names)`` for each import of another package of browsercouch."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = path.relative_to(PACKAGE).parts[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = list(base) + (node.module.split(".") if node.module else [])
            elif node.module.startswith("browsercouch."):
                target = node.module.split(".")[1:]
            else:
                continue
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("browsercouch."):
                    found.append((alias.name.split(".")[1], alias.name.split(".")[2:], []))
            continue
        else:
            continue
        if target:
            found.append((target[0], target[1:], names))
    return [entry for entry in found if (PACKAGE / entry[0]).is_dir() and entry[0] != _part(path)]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_other_layers_are_reached_through_their_face(path):
    """Another package is imported as ``from ..layer import Name`` with ``Name`` in its ``__all__``, never
    through one of its modules: what a layer does not export is its own business."""
    for layer, submodule, names in _cross_layer_imports(path):
        assert not submodule, f"{path.name} imports {layer}.{'.'.join(submodule)}: use browsercouch.{layer}"
        face = set(importlib.import_module(f"browsercouch.{layer}").__all__)
        assert set(names) <= face, f"{path.name} imports {sorted(set(names) - face)} from {layer}"
