"""browsercouch inside a browser tab (Pyodide only): the ``fetch`` HTTP client, persistence that
acknowledges a write once it is saved, and the entry points the page's JavaScript calls.

``persist`` is plain asyncio and also runs on CPython; ``fetch`` and ``tab`` need Pyodide's ``js`` module,
so import them as ``browsercouch.browser.tab`` inside Pyodide only.
"""
