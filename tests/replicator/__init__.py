"""Tests of ``browsercouch.replicator`` (one module each), end to end across endpoints, and interop."""
