"""Delivery status of an agent's sent mail: per recipient, where it stands in the queue.

``GET /mail/messages/{uid}/delivery`` answers for the calling agent's own message (default
folder Sent): each recipient's status, attempts with the server's replies, the next attempt
and the deadline. Another agent's UID is simply not found.
"""

from __future__ import annotations

from fastapi import APIRouter

from agentpost.api.deps import AgentDep, CtxDep, FolderQuery, UidPath
from agentpost.api.schemas import ApiModel, UtcDatetime
from agentpost.domain.folders import SENT
from agentpost.services import queue
from agentpost.services.queue import DeliveryReport, RecipientDelivery

router = APIRouter(prefix="/mail", tags=["delivery"])


class AttemptPublic(ApiModel):
    attempt: int
    at: UtcDatetime
    outcome: str
    code: int | None
    reply: str | None
    duration_ms: int


class RecipientDeliveryPublic(ApiModel):
    recipient: str
    kind: str
    status: str
    attempts: int
    last_code: int | None
    last_error: str | None
    next_attempt_at: UtcDatetime | None
    deadline_at: UtcDatetime | None
    delivered_at: UtcDatetime | None
    updated_at: UtcDatetime
    history: list[AttemptPublic]


class DeliveryPublic(ApiModel):
    uid: int
    folder: str
    status: str
    recipients: list[RecipientDeliveryPublic]


def recipient_of(item: RecipientDelivery) -> RecipientDeliveryPublic:
    record = item.record
    return RecipientDeliveryPublic(
        recipient=record.recipient,
        kind=record.kind,
        status=record.status,
        attempts=record.attempts,
        last_code=record.last_code,
        last_error=record.last_error,
        next_attempt_at=record.next_attempt_at,
        deadline_at=record.deadline_at,
        delivered_at=record.delivered_at,
        updated_at=record.updated_at,
        history=[
            AttemptPublic(
                attempt=a.attempt,
                at=a.started_at,
                outcome=a.outcome,
                code=a.code,
                reply=a.reply,
                duration_ms=a.duration_ms,
            )
            for a in item.history
        ],
    )


def delivery_of(report: DeliveryReport) -> DeliveryPublic:
    return DeliveryPublic(
        uid=report.uid,
        folder=report.folder,
        status=report.status,
        recipients=[recipient_of(r) for r in report.recipients],
    )


@router.get("/messages/{uid}/delivery")
async def message_delivery(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = SENT
) -> DeliveryPublic:
    """Where each recipient of a sent message stands: status, attempts, next try, deadline."""
    return delivery_of(await queue.message_delivery(ctx, agent, uid, folder))
