"""Coalesced lookups: requests that arrive while a query is in flight share the next one.

On PostgreSQL a lookup is a round trip to another process; done one by one on the event loop
it stalls every other request, and its fixed cost (bind, execute, wake-ups on both sides)
exceeds the rest of the request. The lookups of the requests that arrive while one query is in
flight therefore go to the database together in the next query. It is not a cache: each
request's lookup starts after the request arrived, so it sees every write committed before it
was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from weakref import WeakKeyDictionary

Pair = tuple[str, str]  # (stored subject, purpose id)
Row = tuple[Any, ...]


class Coalescer:
    """Lookups that arrive while a query is in flight are answered by the next query, together.

    One query at a time per event loop; each caller gets its own future, so a cancelled
    request (client gone) never cancels another's answer.
    """

    def __init__(self, fetch: Callable[[list[Pair]], Awaitable[dict[Pair, Row]]]) -> None:
        self._fetch = fetch
        self._loops: WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = WeakKeyDictionary()

    async def get(self, pair: Pair) -> Row | None:
        loop = asyncio.get_running_loop()
        queue = self._loops.get(loop)
        if queue is None:
            queue = self._loops[loop] = _Queue()
        future: asyncio.Future[Row | None] = loop.create_future()
        queue.waiting.setdefault(pair, []).append(future)
        if not queue.draining:
            queue.draining = True
            # Runs on the next turn of the loop: requests already read in this turn join in.
            # The queue keeps a reference: the loop holds tasks only weakly.
            queue.task = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue) -> None:
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting, {}
                try:
                    rows = await self._fetch(list(batch))
                except Exception as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for pair, futures in batch.items():
                    row = rows.get(pair)
                    for future in futures:
                        if not future.done():
                            future.set_result(row)
        finally:
            queue.draining = False


class _Queue:
    __slots__ = ("draining", "task", "waiting")

    def __init__(self) -> None:
        self.waiting: dict[Pair, list[asyncio.Future[Row | None]]] = {}
        self.draining = False
        self.task: asyncio.Task[None] | None = None
