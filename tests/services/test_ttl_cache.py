"""The per-process cache of hot reads (services/ttl_cache.py): kept for its time, forgotten
at once by a change here, by a notice from another process, and never refilled by a read
that raced a change."""

from __future__ import annotations

import asyncio

import pytest

from agentpost.services.events import EventBus
from agentpost.services.ttl_cache import TtlCache

pytestmark = pytest.mark.anyio


class Source:
    """A value to cache, counting its loads."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.loads = 0

    async def load(self) -> str:
        self.loads += 1
        return self.value


async def test_a_value_is_kept_for_its_time_then_read_again() -> None:
    source = Source("one")
    kept = TtlCache[str](EventBus(), "t", ttl=3600)
    assert [await kept.get("k", source.load) for _ in range(3)] == ["one"] * 3
    assert source.loads == 1
    expired = TtlCache[str](EventBus(), "t", ttl=0)
    await expired.get("k", source.load)
    await expired.get("k", source.load)
    assert source.loads == 3


async def test_forgetting_one_key_or_all_reads_again() -> None:
    a, b = Source("a"), Source("b")
    cache = TtlCache[str](EventBus(), "t", ttl=3600)
    await cache.get("a", a.load)
    await cache.get("b", b.load)
    a.value, b.value = "a2", "b2"
    cache.forget("a")
    assert await cache.get("a", a.load) == "a2"
    assert await cache.get("b", b.load) == "b"  # untouched
    cache.forget()
    assert await cache.get("b", b.load) == "b2"


async def test_a_failed_load_keeps_nothing() -> None:
    cache = TtlCache[str](EventBus(), "t", ttl=3600)

    async def refuse() -> str:
        raise LookupError("unknown")

    with pytest.raises(LookupError):
        await cache.get("k", refuse)
    source = Source("found")
    assert await cache.get("k", source.load) == "found"


async def test_a_read_that_raced_a_change_is_not_kept() -> None:
    """The old value read before a change committed must not outlive the change."""
    cache = TtlCache[str](EventBus(), "t", ttl=3600)
    reading = asyncio.Event()
    changed = asyncio.Event()

    async def slow_old_read() -> str:
        reading.set()
        await changed.wait()
        return "old"

    racing = asyncio.create_task(cache.get("k", slow_old_read))
    await reading.wait()
    cache.forget("k")  # the change commits while the old read is in flight
    changed.set()
    assert await racing == "old"  # that caller saw the old value, as it would without a cache
    source = Source("new")
    assert await cache.get("k", source.load) == "new"


async def test_a_notice_from_another_process_forgets_there_too() -> None:
    """Each bus relays its notices to the other, as PostgreSQL's LISTEN/NOTIFY does between
    server processes (tests/services/test_accounts.py runs that for real)."""
    here, there = EventBus(), EventBus()

    async def to_there(payload: str) -> None:
        there.receive(payload)

    here.attach_relay(to_there)
    mine = TtlCache[str](here, "topic", ttl=3600)
    theirs = TtlCache[str](there, "topic", ttl=3600)
    other = TtlCache[str](there, "other-topic", ttl=3600)
    source = Source("v1")
    for cache in (mine, theirs, other):
        await cache.get("k", source.load)
    source.value = "v2"
    mine.forget("k")
    await asyncio.sleep(0)  # the relay's task runs
    await asyncio.sleep(0)
    assert await mine.get("k", source.load) == "v2"
    assert await theirs.get("k", source.load) == "v2"
    assert await other.get("k", source.load) == "v1"  # a notice concerns its topic only
