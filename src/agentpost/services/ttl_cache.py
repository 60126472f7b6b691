"""Values kept for a moment in this process: reads that every request makes, of rows that
seldom change (the caller behind an API key, an agent's default signature).

Such a read costs more than its statement: a pooled connection and a trip to the database
thread, a tenth of a send's CPU each. A change made through this process forgets the entry at
once and announces it on the event bus, which relays it to the other processes of a PostgreSQL
deployment (services/events.py); where nothing relays (a second process on one SQLite file,
such as the CLI), an entry lives at most ``ttl`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from agentpost.services.events import EventBus

V = TypeVar("V")


class TtlCache(Generic[V]):
    """String keys to values, each kept ``ttl`` seconds; loads that raise keep nothing."""

    MAX_ENTRIES = 10_000

    def __init__(self, bus: EventBus, topic: str, *, ttl: float) -> None:
        self._bus = bus
        self._topic = topic
        self._ttl = ttl
        self._entries: dict[str, tuple[float, V]] = {}
        # Bumped by every change: a load that began before a change must not store what it
        # read, or the old value would come back for a while.
        self._generation = 0
        bus.listen(topic, self._forget_here)

    async def get(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = self._generation
        value = await load()
        if generation == self._generation:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()  # rare (that many keys in 2 s); simpler than an LRU
            self._entries[key] = (now + self._ttl, value)
        return value

    def forget(self, key: str | None = None) -> None:
        """``key``'s value changed, or (None) any value may have: call after the commit."""
        self._forget_here(key)
        self._bus.announce(self._topic, key)

    def _forget_here(self, key: str | None) -> None:
        self._generation += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
