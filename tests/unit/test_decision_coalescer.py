"""Single decisions that arrive together share one lookup, and each gets its own answer."""

from __future__ import annotations

import asyncio
import threading

import pytest

from identity.consent.coalescer import Coalescer, Pair, Row
from tests.support.loops import run


class Lookups:
    """A lookup function that records its calls and can be held until released."""

    def __init__(self) -> None:
        self.calls: list[list[Pair]] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()
        self.fail = False

    async def __call__(self, pairs: list[Pair]) -> dict[Pair, Row]:
        return await asyncio.to_thread(self.lookup, pairs)

    def lookup(self, pairs: list[Pair]) -> dict[Pair, Row]:
        self.calls.append(pairs)
        self.started.set()
        self.release.wait(5)
        if self.fail:
            raise RuntimeError("database gone")
        return {pair: (True, f"{pair[0]}:{pair[1]}") for pair in pairs if pair[0] != "unknown"}


@pytest.fixture
def lookups():
    return Lookups()


@pytest.fixture
def coalescer(lookups):
    return Coalescer(lookups)


def test_requests_arriving_while_a_lookup_runs_share_the_next_one(coalescer, lookups):
    async def scenario():
        lookups.release.clear()
        first = asyncio.ensure_future(coalescer.get(("a", "email")))
        await asyncio.to_thread(lookups.started.wait, 5)
        later = [asyncio.ensure_future(coalescer.get((s, "email"))) for s in ("b", "c", "b")]
        await asyncio.sleep(0)
        lookups.release.set()
        return await first, await asyncio.gather(*later)

    first, later = run(scenario())
    assert first == (True, "a:email")
    assert later == [(True, "b:email"), (True, "c:email"), (True, "b:email")]
    assert lookups.calls == [[("a", "email")], [("b", "email"), ("c", "email")]]


def test_a_pair_without_a_row_answers_none(coalescer):
    assert run(coalescer.get(("unknown", "email"))) is None


def test_a_cancelled_request_does_not_cancel_the_same_question_of_another(coalescer, lookups):
    async def scenario():
        lookups.release.clear()
        gone = asyncio.ensure_future(coalescer.get(("a", "sms")))
        kept = asyncio.ensure_future(coalescer.get(("a", "sms")))
        await asyncio.to_thread(lookups.started.wait, 5)
        gone.cancel()
        lookups.release.set()
        return await kept, gone.cancelled()

    assert run(scenario()) == ((True, "a:sms"), True)


def test_a_failed_lookup_fails_its_requests_and_the_next_ones_still_run(coalescer, lookups):
    async def scenario():
        lookups.fail = True
        with pytest.raises(RuntimeError, match="database gone"):
            await coalescer.get(("a", "email"))
        lookups.fail = False
        return await coalescer.get(("a", "email"))

    assert run(scenario()) == (True, "a:email")
