"""A fixed number of inference threads and a bounded number of requests waiting for them.

The event loop never runs the model: it would stop answering health checks and uploads for
the length of every prediction. A request that finds every thread busy and the queue full is
refused at once (503) instead of piling up memory and latency behind the others.
"""

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """Every inference thread is busy and ``queue_size`` requests already wait."""


class InferencePool:
    """Runs blocking calls in ``threads`` threads, with at most ``queue_size`` waiting.

    Args:
        threads: Worker threads.
        queue_size: Calls that may wait for a free thread; beyond that :meth:`run` raises
            :class:`QueueFull`.
    """

    def __init__(self, threads: int, queue_size: int):
        self.capacity = threads + queue_size
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="fracture-inference")
        # Released by the worker when a call finishes, not when its request ends: a request
        # whose client went away must keep its slot until its thread is really free.
        self._slots = threading.BoundedSemaphore(self.capacity)

    async def run(self, call: Callable[..., T], *args) -> T:
        """``call(*args)`` in a worker thread; raises QueueFull when no slot is free."""
        if not self._slots.acquire(blocking=False):
            raise QueueFull(f"{self.capacity} requests are already running or waiting")
        try:
            future = self._executor.submit(call, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        """Drop waiting calls without waiting for running ones: a server must stop even when
        a call is stuck (decoding is killed by its owner; a model call ends by itself)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
