"""``tab.loop.batch_call_soon``: ready callbacks run in order, from one scheduled callback per batch;
cancelled ones do not run; a failing one is reported and does not stop the others; asyncio works on top."""

import asyncio

from browsercouch.tab.loop import batch_call_soon


def test_callbacks_run_in_order_in_batches():
    loop = asyncio.new_event_loop()
    scheduled = []
    original = loop.call_later

    def counting_call_later(delay, callback, *args, **options):
        scheduled.append(callback)
        return original(delay, callback, *args, **options)

    loop.call_later = counting_call_later
    batch_call_soon(loop)
    ran = []
    for i in range(5):
        loop.call_soon(ran.append, i)
    loop.call_soon(ran.append, "x").cancel()
    loop.call_soon(lambda: loop.call_soon(ran.append, "next batch"))
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(ran.append, "after the failure")
    errors = []
    loop.set_exception_handler(lambda _, context: errors.append(context["exception"]))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert ran == [0, 1, 2, 3, 4, "after the failure", "next batch"]
    # The nine callbacks, and run_until_complete's own, share a few batches instead of one task each.
    assert [c.__name__ for c in scheduled].count("run_batch") <= 4
    assert isinstance(errors[0], ZeroDivisionError)
    loop.close()


def test_asyncio_runs_on_a_batched_loop():
    loop = batch_call_soon(asyncio.new_event_loop())

    async def worker(queue, n):
        total = 0
        for _ in range(n):
            total += await queue.get()
        return total

    async def main():
        queue = asyncio.Queue()
        task = asyncio.ensure_future(worker(queue, 100))
        for i in range(100):
            queue.put_nowait(i)
            await asyncio.sleep(0)
        return await asyncio.wait_for(task, 5)

    assert loop.run_until_complete(main()) == sum(range(100))
    loop.close()
