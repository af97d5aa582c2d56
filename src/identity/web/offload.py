"""Blocking work (a database transaction) off the event loop, for the endpoints the front door
answers itself (:mod:`identity.web.lane`) and the async pages that wait on the database.

Starlette's ``run_in_threadpool`` hands each call to anyio's worker threads through a capacity
limiter and a ``queue.Queue``; an executor of asyncio's hands it over through C's
``SimpleQueue`` and a future, for about a third of the CPU time per hop with many requests in
flight. The pool has as many threads as the database pool keeps connections
(:data:`identity.db.POOL_SIZE`), so a burst queues for a thread instead of opening a connection
per request beyond the pool and closing it again.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from identity.db import POOL_SIZE

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="offload")
    return _executor


async def in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on a worker thread, awaited."""
    call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
    return await asyncio.get_running_loop().run_in_executor(_threads(), call)
