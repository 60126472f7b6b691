"""In-process event bus: events go to the open streams of the one agent they concern.

Events are published only after the transaction that caused them has committed, so a
subscriber that reacts by reading the database always finds what it was told about.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

QUEUE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in an agent's mailbox; ``type`` is past tense on the wire too."""

    agent_id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, **self.data}


class EventBus:
    """Fan-out per agent. Slow subscribers lose their oldest events, never block publishers."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    def publish(self, event: Event) -> None:
        for queue in list(self._subscribers.get(event.agent_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def publish_all(self, events: list[Event]) -> None:
        for item in events:
            self.publish(item)

    def subscriber_count(self, agent_id: str) -> int:
        return len(self._subscribers.get(agent_id, ()))

    @asynccontextmanager
    async def subscribe(self, agent_id: str) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers[agent_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[agent_id].discard(queue)
            if not self._subscribers[agent_id]:
                del self._subscribers[agent_id]
