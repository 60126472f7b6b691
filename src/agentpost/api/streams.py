"""Long-lived HTTP answers: the per-agent SSE stream and the long poll for new mail (and
task events and held-mail reminders).

Both subscribe to the in-process event bus for one agent. Each kind is capped per agent
(``StreamSlots``) so one key cannot hold unbounded connections; a slot is released however
the answer ends (client gone, server shutdown, error).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from agentpost.errors import RateLimited
from agentpost.services.events import Event, EventBus
from agentpost.services.reminder_sweeper import REMINDER_DUE

MAX_STREAMS_PER_AGENT = 5
MAX_WAITS_PER_AGENT = 5
PING_SECONDS = 15.0
NEW_MAIL = "new"
# Task events (task.assigned, task.completed, …) wake a waiting agent too (services/tasks.py).
TASK_EVENT_PREFIX = "task."
# The reminder sweep announces due held-mail reminders; the listener claims them
# (services/reminder_sweeper.py), so each reaches the agent once however many listen.
ReminderClaim = Callable[[], Awaitable[Event | None]]


class StreamSlots:
    """Counts open streams per agent and refuses the one over the limit (429)."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self._open: Counter[str] = Counter()

    def acquire(self, agent_id: str) -> None:
        # No await between the check and the increment: atomic on the event loop.
        if self._open[agent_id] >= self.limit:
            raise RateLimited(
                f"at most {self.limit} {self.what} per agent may be open at once; close one first"
            )
        self._open[agent_id] += 1

    def release(self, agent_id: str) -> None:
        self._open[agent_id] -= 1
        if self._open[agent_id] <= 0:
            del self._open[agent_id]

    def open_count(self, agent_id: str) -> int:
        return self._open[agent_id]


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` that runs ``on_close`` once the stream ends, however it ends."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, headers=headers)
        self._frames = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Starlette cancels the sender on disconnect; close the generator so its
            # subscription ends now rather than whenever it is garbage-collected.
            aclose = getattr(self._frames, "aclose", None)
            if aclose is not None:
                await aclose()
            self._on_close()


def sse_frame(payload: dict[str, Any]) -> str:
    # Bare data frames, no event names: clients switch on the JSON "type" (upstream contract).
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def event_frames(
    bus: EventBus, agent_id: str, ping_seconds: float, reminders: ReminderClaim
) -> AsyncIterator[str]:
    """``connected`` first (sent once subscribed, so nothing after it is missed), then every
    event of the agent, with a ``: ping`` comment whenever the stream has been quiet. A
    reminder announcement becomes a ``reminder`` event if this stream wins the claim."""
    async with bus.subscribe(agent_id) as queue:
        yield sse_frame({"type": "connected", "agentId": agent_id})
        while True:
            try:
                event: Event | None = await asyncio.wait_for(queue.get(), ping_seconds)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if event is not None and event.type == REMINDER_DUE:
                event = await reminders()
            if event is not None:
                yield sse_frame(event.payload())


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _next_new_mail(queue: asyncio.Queue[Event], reminders: ReminderClaim) -> Event:
    while True:
        event = await queue.get()
        if event.type == NEW_MAIL or event.type.startswith(TASK_EVENT_PREFIX):
            return event
        if event.type == REMINDER_DUE:
            claimed = await reminders()
            if claimed is not None:
                return claimed


async def wait_new_mail(
    bus: EventBus, agent_id: str, timeout: float, receive: Receive, reminders: ReminderClaim
) -> Event | None:
    """The next new-mail, task or (claimed) reminder event for the agent, or None on timeout
    or disconnect."""
    found: Event | None = None
    async with bus.subscribe(agent_id) as queue, anyio.create_task_group() as group:

        async def watch_disconnect() -> None:
            await _disconnected(receive)
            group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        with anyio.move_on_after(timeout):
            found = await _next_new_mail(queue, reminders)
        group.cancel_scope.cancel()
    return found
