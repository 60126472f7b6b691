"""Long-lived HTTP answers: the per-agent SSE stream and the long poll for new mail (and
task events and held-mail reminders).

Both subscribe to the in-process event bus for one agent. Each kind is capped per agent
(``StreamSlots``) so one key cannot hold unbounded connections; a slot is released however
the answer ends (client gone, server shutdown, error).

Both also hand out held-mail reminders, which are claimed so that each reaches the agent once
(services/reminder_sweeper.py). A claim is committed before its event is written, so a client
that goes away in between would lose the reminder; instead, whatever stops the event from
being handed to the server for a live connection releases the claim again (see
``event_frames`` and ``wait_new_mail``). Past that point, a frame lost in the network is
beyond what a server can see without an acknowledgement from the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from agentpost.errors import RateLimited
from agentpost.services.events import Event, EventBus
from agentpost.services.reminder_sweeper import REMINDER_DUE, ReminderEvent

logger = logging.getLogger(__name__)

MAX_STREAMS_PER_AGENT = 5
MAX_WAITS_PER_AGENT = 5
PING_SECONDS = 15.0
NEW_MAIL = "new"
# Task events (task.assigned, task.completed, …) wake a waiting agent too (services/tasks.py).
TASK_EVENT_PREFIX = "task."


@dataclass(frozen=True, slots=True)
class ReminderHandout:
    """How a listener hands out the agent's held-mail reminders when the sweep announces
    them: ``claim`` them (None: another listener won), or ``release`` a claim whose event
    could not be delivered."""

    claim: Callable[[], Awaitable[ReminderEvent | None]]
    release: Callable[[ReminderEvent], Awaitable[None]]

    async def claim_whole(self) -> ReminderEvent | None:
        # Shielded: a cancellation (client gone, timeout) landing after the claim committed
        # would drop the only note of what was claimed; finish, then decide what to do.
        with anyio.CancelScope(shield=True):
            claimed = await self.claim()
        return claimed

    async def release_quietly(self, event: ReminderEvent) -> None:
        # Shielded: it runs while the stream is being cancelled or closed. A failure is
        # logged rather than raised so that it does not mask why the stream ended.
        with anyio.CancelScope(shield=True):
            try:
                await self.release(event)
            except Exception:
                logger.exception("could not release undelivered reminders of %s", event.agent_id)


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
    bus: EventBus, agent_id: str, ping_seconds: float, reminders: ReminderHandout
) -> AsyncIterator[str]:
    """``connected`` first (sent once subscribed, so nothing after it is missed), then every
    event of the agent, with a ``: ping`` comment whenever the stream has been quiet. A
    reminder announcement becomes a ``reminder`` event if this stream wins the claim."""
    async with bus.subscribe(agent_id) as queue:
        yield sse_frame({"type": "connected", "agentId": agent_id})
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), ping_seconds)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if event.type != REMINDER_DUE:
                yield sse_frame(event.payload())
                continue
            claimed = await reminders.claim_whole()
            if claimed is None:
                continue
            try:
                yield sse_frame(claimed.payload())
                await _hear_of_disconnect()
            except BaseException:  # closed or cancelled before the frame was written
                await reminders.release_quietly(claimed)
                raise


async def _hear_of_disconnect() -> None:
    """Raise if the client turned out to be gone when the last frame was sent.

    Starlette resumes the frame generator once the frame is sent. If the stream is closed or
    cancelled before that (the client left, the server stops, or an ASGI 2.4 server raised on
    the write), the ``yield`` itself raises. A server on ASGI 2.3 (uvicorn) instead drops a
    write to a connection it already knows is closed, without a word; but it has woken the
    response's disconnect listener by then, which cancels this task on its next turn of the
    loop: one checkpoint after the write is enough to hear of it."""
    await anyio.lowlevel.checkpoint()
    await anyio.lowlevel.checkpoint_if_cancelled()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _next_new_mail(queue: asyncio.Queue[Event], reminders: ReminderHandout) -> Event:
    while True:
        event = await queue.get()
        if event.type == NEW_MAIL or event.type.startswith(TASK_EVENT_PREFIX):
            return event
        if event.type == REMINDER_DUE:
            # Returned with no checkpoint after the (shielded) claim: a timeout or disconnect
            # that fired meanwhile cannot drop it on the way to the caller.
            claimed = await reminders.claim_whole()
            if claimed is not None:
                return claimed


async def wait_new_mail(
    bus: EventBus, agent_id: str, timeout: float, receive: Receive, reminders: ReminderHandout
) -> Event | None:
    """The next new-mail, task or (claimed) reminder event for the agent, or None on timeout
    or disconnect. Reminders claimed for a client that has gone are released, not lost."""
    found: Event | None = None
    gone = False
    async with bus.subscribe(agent_id) as queue, anyio.create_task_group() as group:

        async def watch_disconnect() -> None:
            nonlocal gone
            await _disconnected(receive)
            gone = True
            group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        with anyio.move_on_after(timeout):
            found = await _next_new_mail(queue, reminders)
        group.cancel_scope.cancel()
    if gone and isinstance(found, ReminderEvent):
        await reminders.release_quietly(found)
        return None
    return found
