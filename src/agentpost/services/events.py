"""Event bus: events go to the open streams of the one agent they concern.

Events are published only after the transaction that caused them has committed, so a
subscriber that reacts by reading the database always finds what it was told about. They are
delivered in this process at once and, when a relay is attached (PostgreSQL LISTEN/NOTIFY,
storage/notify.py; on SQLite, datagram sockets next to the database file,
storage/local_channel.py), to every other server process too, so a client's stream wakes
whichever process stored the mail.

The bus also carries process-wide notices that concern no one agent (``announce``), such as
"this API key's caller changed", which the caches of every process act on (ttl_cache.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

QUEUE_LIMIT = 1000
logger = logging.getLogger(__name__)
Relay = Callable[[str], Awaitable[None]]
Listener = Callable[[str | None], None]


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
        self._origin = uuid.uuid4().hex  # tells our own relayed events from other processes'
        self._relay: Relay | None = None
        self._sending: set[asyncio.Task[None]] = set()  # the relay task, while one runs
        self._outgoing: list[str] = []  # published, not yet relayed
        self._listeners: dict[str, list[Listener]] = defaultdict(list)

    def attach_relay(self, relay: Relay) -> None:
        """Also send every published event to other processes through ``relay``."""
        self._relay = relay

    def publish(self, event: Event) -> None:
        self._deliver(event)
        wire = {"origin": self._origin, "agent": event.agent_id, "type": event.type}
        self._relay_wire({**wire, "data": event.data})

    def listen(self, topic: str, listener: Listener) -> None:
        """Call ``listener`` with the notice's data for every ``topic`` notice, from this
        process or another."""
        self._listeners[topic].append(listener)

    def announce(self, topic: str, data: str | None = None) -> None:
        """A process-wide notice: this process's listeners hear it at once, other processes'
        when the relay carries it (only the local listeners before ``attach_relay``)."""
        self._notify(topic, data)
        self._relay_wire({"origin": self._origin, "topic": topic, "data": data})

    def _notify(self, topic: str, data: str | None) -> None:
        for listener in self._listeners.get(topic, ()):
            listener(data)

    def _relay_wire(self, wire: dict[str, Any]) -> None:
        if self._relay is None:
            return
        self._outgoing.append(json.dumps(wire))
        if self._sending:
            return
        # One task relays everything published until it runs (a group commit publishes an
        # event per send), in order: a task per event cost more than the relay itself. Done
        # (or cancelled before it ran), it leaves the rest to the next event's task.
        task = asyncio.get_running_loop().create_task(self._send_outgoing(self._relay))
        self._sending.add(task)  # keep a reference until it is done
        task.add_done_callback(self._sending.discard)

    async def _send_outgoing(self, relay: Relay) -> None:
        while self._outgoing:
            batch, self._outgoing = self._outgoing, []
            for payload in batch:
                await self._send(relay, payload)

    async def drain(self) -> None:
        """Wait for the relay sends still under way (before the channel closes: the last
        notice of a short-lived process, such as a CLI command's key rotation, must leave)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    @staticmethod
    async def _send(relay: Relay, payload: str) -> None:
        try:
            await relay(payload)
        except Exception:  # the local delivery happened; other processes miss this one
            logger.exception("could not relay an event to other processes")

    def receive(self, payload: str) -> None:
        """An event relayed by another process (ours are already delivered)."""
        try:
            wire = json.loads(payload)
            if wire["origin"] == self._origin:
                return
            if "topic" in wire:
                self._notify(str(wire["topic"]), wire["data"])
                return
            self._deliver(Event(agent_id=wire["agent"], type=wire["type"], data=wire["data"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed relayed event")

    def _deliver(self, event: Event) -> None:
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
