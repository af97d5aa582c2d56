"""Running a coroutine from a synchronous test, whatever else the worker process runs.

Playwright's synchronous API keeps an event loop running on the main thread of an xdist worker
once a browser test has run there, and ``asyncio.run`` refuses to start inside it; a thread of
its own gives the coroutine a fresh loop every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()
