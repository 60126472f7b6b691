"""Push and wait: ``GET /events`` (Server-Sent Events) and the ``GET /mail/wait`` long poll.

Both listen to the calling agent's events only; each is capped per agent (429 beyond). Both
also hand out the agent's held-mail reminders as they fall due (services/reminder_sweeper.py),
and give back the claim of any they could not deliver (api/streams.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from agentpost.api.deps import AgentDep, CtxDep
from agentpost.api.schemas import WaitPublic
from agentpost.api.streams import (
    TASK_EVENT_PREFIX,
    EventStreamResponse,
    ReminderHandout,
    StreamSlots,
    event_frames,
    wait_new_mail,
)
from agentpost.services import reminder_sweeper
from agentpost.services.context import AppContext
from agentpost.services.reminder_sweeper import ReminderEvent

router = APIRouter(tags=["events"])


def _reminders(ctx: AppContext, agent_id: str) -> ReminderHandout:
    async def claim() -> ReminderEvent | None:
        return await reminder_sweeper.claim_reminder_event(ctx, agent_id)

    async def release(event: ReminderEvent) -> None:
        await reminder_sweeper.release_reminder_event(ctx, event)

    return ReminderHandout(claim, release)


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
    """The agent's events as they happen: ``connected``, then ``new`` for each arrival,
    ``task.*`` for its tasks and ``reminder`` when held mail's follow-up reminders fall due."""
    slots = _slots(request, "event_streams")
    slots.acquire(agent.id)
    ping_seconds = float(request.app.state.ping_seconds)
    return EventStreamResponse(
        event_frames(ctx.events, agent.id, ping_seconds, _reminders(ctx, agent.id)),
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
    ``eventType`` is ``task``; or a held-mail reminder falls due: ``reminder``), or after
    ``timeout`` seconds."""
    slots = _slots(request, "mail_waits")
    slots.acquire(agent.id)
    try:
        reminders = _reminders(ctx, agent.id)
        event = await wait_new_mail(ctx.events, agent.id, timeout, request.receive, reminders)
    finally:
        slots.release(agent.id)
    if event is None:
        return WaitPublic(arrived=False, timed_out=True)
    data = event.data
    if event.type.startswith(TASK_EVENT_PREFIX):
        return WaitPublic(arrived=True, event_type="task", task=event.payload())
    if event.type == reminder_sweeper.REMINDER:
        return WaitPublic(arrived=True, event_type="reminder", reminders=data["reminders"])
    return WaitPublic(
        arrived=True,
        event_type="email",
        uid=data.get("uid"),
        folder=data.get("folder"),
        subject=data.get("subject"),
        from_=data.get("from"),
        message_id=data.get("messageId"),
    )
