"""Differential conformance: the same requests to Apache CouchDB 3.4.3 and to browsercouch, compared."""
