"""Held outbound mail and the outbound guard's per-agent policy.

GET  /pending                       held messages (agent: its own; owner: their agents')
GET  /pending/{id}                  one, with the held message and its contentHash
POST /pending/{id}/approve          owner or admin: send it, exactly once
POST /pending/{id}/reject           owner or admin: discard it
POST /pending/reminders             agent: follow-up reminders that fell due (each once)
/mail/pending...                    the same four, at the AgenticMail reference's paths
GET  /accounts/{name}/guard-policy  owner or admin: the agent's guard policy
PUT  /accounts/{name}/guard-policy  owner or admin: replace it
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field

from agentpost.api.deps import AdminOrOwnerDep, CtxDep, PrincipalDep
from agentpost.api.presenters import send_result_of
from agentpost.api.schemas import ApiModel, FindingPublic, SendResultPublic, UtcDatetime
from agentpost.domain.guard.policy import GuardPolicy
from agentpost.domain.mime import PREVIEW_CHARS
from agentpost.services import guard, pending
from agentpost.services.pending import PendingView, ReminderNote

router = APIRouter(tags=["guard"])
MAX_BODY_CHARS = 100_000

PendingIdPath = Annotated[
    str, Path(min_length=1, max_length=36, description="The held message's id (pendingId).")
]
StatusName = Literal["pending", "approved", "rejected", "expired"]


class PendingPublic(ApiModel):
    id: str
    agent_id: str
    status: str = Field(description="pending, approved, rejected or expired.")
    to: list[str] = Field(description="Every recipient: to, cc and bcc.")
    subject: str
    message_id: str
    warnings: list[FindingPublic]
    summary: str
    content_hash: str = Field(description="SHA-256 of the exact bytes and recipients held.")
    created_at: UtcDatetime
    expires_at: UtcDatetime
    resolved_at: UtcDatetime | None = None
    resolved_by: str | None = Field(
        default=None, description="owner, admin, or owner-mail (the owner replied by mail)."
    )
    next_reminder_at: UtcDatetime | None = None


class HeldMessagePublic(ApiModel):
    from_: str = Field(alias="from")
    cc: list[str]
    text: str = Field(description=f"The plain-text body (at most {MAX_BODY_CHARS} characters).")
    preview: str
    attachments: list[str]


class PendingDetailPublic(PendingPublic):
    message: HeldMessagePublic | None = None
    owner_notice: str | None = Field(
        default=None,
        description="The owner's approval request by mail: queued, sending, sent or failed; "
        "absent when none could be sent (the owner has no email address or no SMTP "
        "configuration).",
    )


class PendingListPublic(ApiModel):
    pending: list[PendingPublic]
    count: int


class ApproveCreate(ApiModel):
    content_hash: str | None = Field(
        default=None,
        max_length=64,
        description="The contentHash you reviewed: approval fails if the held content differs.",
    )


class ReminderPublic(ApiModel):
    pending_id: str
    label: str = Field(description='e.g. "follow-up reminder 2/4".')
    subject: str
    to: list[str]
    due_at: UtcDatetime
    next_reminder_at: UtcDatetime | None = None
    created_at: UtcDatetime


class RemindersPublic(ApiModel):
    reminders: list[ReminderPublic]


class GuardPolicyPublic(ApiModel):
    agent: str
    actions: dict[str, dict[str, str]] = Field(
        description="Per recipient class (owner, agent, contact, stranger): severity → action "
        "(allow, warn, hold)."
    )
    allow_domains: list[str]
    disabled_rules: list[str]


class GuardPolicyUpdate(ApiModel):
    actions: dict[str, dict[str, str]] | None = None
    allow_domains: list[str] | None = Field(default=None, max_length=100)
    disabled_rules: list[str] | None = Field(default=None, max_length=100)


def summary(view: PendingView) -> str:
    """``2 findings — 1 HIGH, 1 MEDIUM: a payment card number; a phone number``."""
    counts: dict[str, int] = {}
    for finding in view.findings:
        counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    levels = ", ".join(f"{n} {sev}" for sev, n in counts.items())
    reasons = "; ".join(dict.fromkeys(f.description for f in view.findings))
    return f"{len(view.findings)} finding(s) — {levels}: {reasons}" if view.findings else ""


def _fields(view: PendingView) -> dict[str, Any]:
    record = view.record
    return {
        "id": record.id,
        "agent_id": record.agent_id,
        "status": view.status,
        "to": record.envelope,
        "subject": record.subject,
        "message_id": record.message_id,
        "warnings": [FindingPublic(**f.to_dict()) for f in view.findings],
        "summary": summary(view),
        "content_hash": record.content_hash,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "resolved_at": record.resolved_at,
        "resolved_by": record.resolved_by,
        "next_reminder_at": view.next_reminder_at,
    }


def pending_of(view: PendingView) -> PendingPublic:
    return PendingPublic(**_fields(view))


def detail_of(view: PendingView) -> PendingDetailPublic:
    held = view.message
    message = None
    if held is not None:
        message = HeldMessagePublic(
            **{"from": held.from_addr.address},
            cc=[a.address for a in held.cc],
            text=held.text[:MAX_BODY_CHARS],
            preview=held.preview[:PREVIEW_CHARS],
            attachments=[a.filename for a in held.attachments],
        )
    return PendingDetailPublic(**_fields(view), message=message, owner_notice=view.owner_notice)


def reminder_of(note: ReminderNote) -> ReminderPublic:
    return ReminderPublic(
        pending_id=note.record.id,
        label=note.label,
        subject=note.record.subject,
        to=note.record.envelope,
        due_at=note.reminder.at,
        next_reminder_at=note.next_at,
        created_at=note.record.created_at,
    )


@router.get("/pending")
@router.get("/mail/pending")
async def list_pending(
    ctx: CtxDep,
    principal: PrincipalDep,
    status: Annotated[StatusName | None, Query(description="Only this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> PendingListPublic:
    """Held messages, newest first: an agent sees its own, an owner their agents'."""
    views = await pending.list_pending(ctx, principal, status=status, limit=limit)
    return PendingListPublic(pending=[pending_of(v) for v in views], count=len(views))


@router.post("/pending/reminders")
async def claim_reminders(ctx: CtxDep, principal: PrincipalDep) -> RemindersPublic:
    """The calling agent's follow-up reminders due since it last asked (each comes once)."""
    notes = await pending.claim_reminders(ctx, principal)
    return RemindersPublic(reminders=[reminder_of(n) for n in notes])


@router.get("/pending/{pending_id}")
@router.get("/mail/pending/{pending_id}")
async def read_pending(
    ctx: CtxDep, principal: PrincipalDep, pending_id: PendingIdPath
) -> PendingDetailPublic:
    """One held message with its content, findings and contentHash."""
    return detail_of(await pending.get_pending(ctx, principal, pending_id))


@router.post("/pending/{pending_id}/approve", response_model_exclude_none=True)
@router.post("/mail/pending/{pending_id}/approve", response_model_exclude_none=True)
async def approve_pending(
    ctx: CtxDep,
    principal: PrincipalDep,
    pending_id: PendingIdPath,
    body: ApproveCreate | None = None,
) -> SendResultPublic:
    """Owner or admin: send the held message as it was held (permissions still apply)."""
    expected = body.content_hash if body is not None else None
    result = await pending.approve(ctx, principal, pending_id, expected_hash=expected)
    return send_result_of(result)


@router.post("/pending/{pending_id}/reject")
@router.post("/mail/pending/{pending_id}/reject")
async def reject_pending(
    ctx: CtxDep, principal: PrincipalDep, pending_id: PendingIdPath
) -> PendingPublic:
    """Owner or admin: discard the held message."""
    return pending_of(await pending.reject(ctx, principal, pending_id))


def _policy_of(name: str, policy: GuardPolicy) -> GuardPolicyPublic:
    data = policy.to_dict()
    return GuardPolicyPublic(
        agent=name,
        actions=data["actions"],
        allow_domains=data["allowDomains"],
        disabled_rules=data["disabledRules"],
    )


@router.get("/accounts/{name}/guard-policy")
async def read_guard_policy(
    ctx: CtxDep, principal: AdminOrOwnerDep, name: str
) -> GuardPolicyPublic:
    """The agent's outbound guard policy (the defaults until one is set)."""
    return _policy_of(name, await guard.get_policy(ctx, principal, name))


@router.put("/accounts/{name}/guard-policy")
async def update_guard_policy(
    ctx: CtxDep, principal: AdminOrOwnerDep, name: str, body: GuardPolicyUpdate
) -> GuardPolicyPublic:
    """Replace the agent's policy; parts left out take the defaults."""
    document = body.model_dump(by_alias=True, exclude_none=True)
    return _policy_of(name, await guard.set_policy(ctx, principal, name, document))
