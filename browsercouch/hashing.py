"""PBKDF2 on worker threads, the ``auth.Pbkdf2`` the native server gives its ``CouchApp``.

A password stored as CouchDB 3.4 stores it (PBKDF2-SHA256, 600k iterations) takes about 0.3 s to check;
on the event loop that stalled every connection for as long. ``hashlib.pbkdf2_hmac`` releases the GIL
while it derives, so on a thread the loop keeps serving. Native only: the core starts no threads
(Pyodide has none), and the browser uses WebCrypto instead (``tab.webcrypto``).
"""

import asyncio
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

__all__ = ["ThreadedPbkdf2"]


def default_workers():
    """Threads that derive at once: every core but one, which stays free for the event loop."""
    return max(1, (os.cpu_count() or 2) - 1)


class ThreadedPbkdf2:
    """``await pbkdf2(prf, password, salt, iterations)`` on a pool of ``workers`` threads. Derivations
    beyond that wait their turn (the login throttle keeps that queue short)."""

    def __init__(self, workers=None):
        self._pool = ThreadPoolExecutor(workers or default_workers(), thread_name_prefix="pbkdf2")

    async def __call__(self, prf, password, salt, iterations):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, hashlib.pbkdf2_hmac, prf, password, salt, iterations)
