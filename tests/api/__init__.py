"""The API suite: ``CouchApp`` through the real h11 driver in-process, and behind uvicorn on 127.0.0.1."""
