"""Push and wait: ``GET /events`` (Server-Sent Events) and the ``GET /mail/wait`` long poll.

Both listen to the calling agent's events only; each is capped per agent (429 beyond).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from agentpost.api.deps import AgentDep, CtxDep
from agentpost.api.schemas import WaitPublic
from agentpost.api.streams import (
    TASK_EVENT_PREFIX,
    EventStreamResponse,
    StreamSlots,
    event_frames,
    wait_new_mail,
)

router = APIRouter(tags=["events"])


def _slots(request: Request, name: str) -> StreamSlots:
    slots: StreamSlots = getattr(request.app.state, name)
    return slots


@router.get(
    "/events",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(request: Request, ctx: CtxDep, agent: AgentDep) -> EventStreamResponse:
    """The agent's events as they happen: ``connected``, then ``new`` for each arrival."""
    slots = _slots(request, "event_streams")
    slots.acquire(agent.id)
    ping_seconds = float(request.app.state.ping_seconds)
    return EventStreamResponse(
        event_frames(ctx.events, agent.id, ping_seconds),
        on_close=lambda: slots.release(agent.id),
    )


@router.get("/mail/wait", response_model_exclude_none=True)
async def wait_for_mail(
    request: Request,
    ctx: CtxDep,
    agent: AgentDep,
    timeout: Annotated[int, Query(ge=1, le=300, description="Seconds to wait.")] = 120,
) -> WaitPublic:
    """Answer as soon as new mail arrives for the agent (or a task event concerns it: then
    ``eventType`` is ``task``), or after ``timeout`` seconds."""
    slots = _slots(request, "mail_waits")
    slots.acquire(agent.id)
    try:
        event = await wait_new_mail(ctx.events, agent.id, timeout, request.receive)
    finally:
        slots.release(agent.id)
    if event is None:
        return WaitPublic(arrived=False, timed_out=True)
    data = event.data
    if event.type.startswith(TASK_EVENT_PREFIX):
        return WaitPublic(arrived=True, event_type="task", task=event.payload())
    return WaitPublic(
        arrived=True,
        event_type="email",
        uid=data.get("uid"),
        folder=data.get("folder"),
        subject=data.get("subject"),
        from_=data.get("from"),
        message_id=data.get("messageId"),
    )
