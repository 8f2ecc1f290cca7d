"""Acknowledge a write in the tab only once it is persisted.

In the browser the databases live in Emscripten's in-memory file system and reach the disk only when the
page saves them (``web/opfs-files.js``: the changed byte ranges of the changed files, written to OPFS by a
file writer, all or nothing, flushed; or ``web/file-store.js`` in IndexedDB where OPFS is missing).
``Persister`` batches those saves: every committed change calls ``changed(path)``, and ``flush()``
returns once every change made before the call is persisted. Writes that arrive while a persist runs
share the next one, so the window between a commit and its acknowledgement is at most two persists,
however busy the server is: under a steady stream of changes one persist follows another for as long
as it lasts, and each wakes the writes it covered (waiting for the stream to pause held every write's
answer for as long as the stream lasted: issue 12). A change nobody waits for (a replication writing a
batch) is saved after ``idle_delay`` seconds, together with whatever else changed meanwhile, so a long
pull is not saved batch by batch.

``acknowledge_after_persist(app, persister)`` wraps the ASGI app: the response to a request that changed
something (a commit happened while it ran) starts only after ``flush()``, and what such a request
commits before its body is complete (an attachment stored in parts) is saved at once, not after
``idle_delay``. Requests that only read, the replicator's ``POST _bulk_get`` and ``_revs_diff`` among
them, answer at once. If the persist fails, the client gets a 500 instead of a false acknowledgement.
"""

import asyncio
import json
import logging

__all__ = ["Persister", "acknowledge_after_persist"]

log = logging.getLogger("browsercouch.tab")

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Seconds a change nobody waits for may stay unsaved (see the module docstring).
IDLE_DELAY = 1.0


class Persister:
    """Batches calls of ``persist(paths)`` (a coroutine function that saves those files, or forgets the
    ones that no longer exist) after changes.

    ``persists`` counts the persists done, ``last_error`` keeps the last failure (``None`` after a
    success); the page shows both.
    """

    def __init__(self, persist, *, idle_delay=IDLE_DELAY):
        self._persist = persist
        self.idle_delay = idle_delay
        self._timer = None  # the pending save of changes nobody waits for
        self._changes = 0  # changes seen so far
        self._saved = 0  # changes covered by the last successful persist
        self._running = None  # the task of the persists in progress
        self._waiters = []  # futures of flush() calls, woken after each persist
        self._paths = set()  # files changed since the last persist started
        self.persists = 0
        self.last_error = None

    @property
    def changes(self):
        """How many changes were noted so far (a request compares it before and after)."""
        return self._changes

    @property
    def dirty(self):
        return self._saved < self._changes

    def changed(self, path):
        """Note a committed change to the file ``path``; it is saved by the next ``flush()`` or, at the
        latest, ``idle_delay`` seconds from now."""
        self._changes += 1
        self._paths.add(path)
        self._save_later()

    def _save_later(self):
        if self._running is None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.idle_delay, self.save_now)

    def save_now(self):
        """Start saving what changed, unless a save is running (it saves those changes too)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is None and self.dirty:
            self._running = asyncio.ensure_future(self._run())

    async def flush(self):
        """Return once every change noted before this call is persisted; raise if a persist failed."""
        target = self._changes
        while self._saved < target:
            self.save_now()
            persisted = asyncio.get_running_loop().create_future()
            self._waiters.append(persisted)
            await persisted
            if self.last_error is not None and self._saved < target:
                raise self.last_error

    def _wake_waiters(self):
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _run(self):
        try:
            while self._saved < self._changes:
                covered, paths, self._paths = self._changes, self._paths, set()
                try:
                    await self._persist(sorted(paths))
                except Exception as error:
                    log.error("persisting the databases failed: %r", error)
                    self._paths |= paths
                    self.last_error = error
                    break
                self.persists += 1
                self._saved = covered
                self.last_error = None
                self._wake_waiters()
        finally:
            self._running = None
            self._wake_waiters()
        if self.dirty:
            self._save_later()  # a failed save is retried, as is one that lost a race


PERSIST_FAILED = json.dumps({"error": "persist_failed",
                             "reason": "The write was not saved to browser storage."}).encode()


def acknowledge_after_persist(app, persister):
    """The ASGI ``app``, with responses to writes held back until ``persister.flush()`` returns."""

    async def durable_app(scope, receive, send):
        if scope["type"] != "http" or scope["method"] in READ_ONLY_METHODS:
            await app(scope, receive, send)
            return
        failed = False
        changes_before = persister.changes

        async def send_when_persisted(message):
            nonlocal failed
            if message["type"] == "http.response.start" and persister.changes != changes_before:
                try:
                    await persister.flush()
                except Exception:
                    failed = True
                    await send({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(PERSIST_FAILED)).encode())]})
                    await send({"type": "http.response.body", "body": PERSIST_FAILED})
                    return
            if not failed:
                await send(message)

        async def receive_saving():
            # A body stored while it arrives (a streamed attachment) is saved while it arrives too, so
            # that little is left to save once it is complete.
            if persister.changes != changes_before:
                persister.save_now()
            return await receive()

        await app(scope, receive_saving, send_when_persisted)

    return durable_app
