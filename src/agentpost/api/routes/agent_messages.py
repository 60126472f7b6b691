"""Agent-to-agent messages: send to an agent by name with a priority, the unread summary
that tells mail from agents on this server apart from external mail, and the check that adds
the held-mail reminders that fell due (handed out once)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from agentpost.api.deps import AgentDep, CtxDep
from agentpost.api.presenters import send_result_of
from agentpost.api.routes.pending import ReminderPublic, reminder_of
from agentpost.api.schemas import ApiModel, SendResultPublic, UtcDatetime
from agentpost.services import agent_messages

router = APIRouter(prefix="/agent-messages", tags=["agent messages"])


class AgentMessageCreate(ApiModel):
    agent: str = Field(min_length=1, description="Name of the agent to write to.")
    subject: str = Field(min_length=1, max_length=998)
    text: str
    priority: Literal["normal", "high", "urgent"] = "normal"


class AgentMessageSentPublic(ApiModel):
    to: str
    agent: str
    subject: str
    sent: SendResultPublic


class UnreadPublic(ApiModel):
    uid: int
    from_: str = Field(alias="from")
    from_name: str
    subject: str
    date: UtcDatetime
    source: Literal["agent", "external"]


class UnreadSummaryPublic(ApiModel):
    messages: list[UnreadPublic]
    total: int


class MessageCheckPublic(UnreadSummaryPublic):
    reminders: list[ReminderPublic] = Field(
        description="Follow-up reminders of your held mail that fell due, each handed out once."
    )


@router.post("", response_model_exclude_none=True)
async def message_agent(
    ctx: CtxDep, agent: AgentDep, body: AgentMessageCreate
) -> AgentMessageSentPublic:
    """Send to another agent of the same owner by name; high and urgent priorities prefix the
    subject with ``[HIGH] `` / ``[URGENT] ``."""
    sent = await agent_messages.message_agent(
        ctx, agent, target=body.agent, subject=body.subject, text=body.text, priority=body.priority
    )
    return AgentMessageSentPublic(
        to=sent.target.address,
        agent=sent.target.name,
        subject=agent_messages.prefixed_subject(body.subject, body.priority),
        sent=send_result_of(sent.result),
    )


@router.get("/unread")
async def unread_messages(
    ctx: CtxDep, agent: AgentDep, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> UnreadSummaryPublic:
    """Unread INBOX mail, newest first; ``source`` is ``agent`` when the sender is an agent
    mailbox on this server, else ``external``. Listing does not mark anything read."""
    summary = await agent_messages.unread_messages(ctx, agent, limit=limit)
    return UnreadSummaryPublic(messages=_unread(summary), total=summary.total)


@router.post("/check")
async def check_messages(
    ctx: CtxDep, agent: AgentDep, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> MessageCheckPublic:
    """The unread summary (as ``GET /agent-messages/unread``) plus ``reminders``: the
    follow-up reminders of the agent's held mail that fell due. A reminder is handed out once,
    here or by ``/events``, ``/mail/wait`` and ``POST /pending/reminders``; hence POST."""
    check = await agent_messages.check_messages(ctx, agent, limit=limit)
    return MessageCheckPublic(
        messages=_unread(check.unread),
        total=check.unread.total,
        reminders=[reminder_of(note) for note in check.reminders],
    )


def _unread(summary: agent_messages.UnreadSummary) -> list[UnreadPublic]:
    return [
        UnreadPublic(
            uid=item.message.uid,
            from_=item.message.from_addr,
            from_name=item.message.from_name,
            subject=item.message.subject,
            date=item.message.date,
            source="agent" if item.from_agent else "external",
        )
        for item in summary.messages
    ]
