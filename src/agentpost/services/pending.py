"""Held outbound mail after the hold: listing, owner approval or rejection, expiry, reminders.

Only an owner (their owner key, or the master key acting for the default owner) approves or
rejects; an agent gets ``approval_requires_owner``. An approval is bound to the SHA-256 of the
exact bytes and recipients that were held (``contentHash``): the stored bytes are re-hashed
before release, and an owner may pass the hash they reviewed so a stale view cannot approve
different content. Release goes through ``outbox.store_outgoing`` with the guard replaced by
the claim of the item, in one transaction: permissions and limits still apply, the item moves
``pending → approved`` only if the send is stored, and a second approval finds it resolved.
Items expire after ``approval_ttl_hours`` (status ``expired``, computed on read and written on
the next attempt to resolve them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address
from agentpost.domain.guard import Finding
from agentpost.domain.guard.reminders import (
    STEPS_HOURS,
    Reminder,
    describe,
    last_due,
    next_after,
)
from agentpost.domain.mime import ParsedMessage, parse_message
from agentpost.errors import (
    AgentNotFound,
    ApprovalMismatch,
    ApprovalRequiresOwner,
    PendingNotFound,
    PendingResolved,
)
from agentpost.services import audit, outbox
from agentpost.services.accounts import Principal, PrincipalKind, now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.guard import content_hash
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import guard as repo
from agentpost.storage.repositories import notices as notice_repo
from agentpost.storage.repositories.guard import PendingRecord

STATUSES = ("pending", "approved", "rejected", "expired")
MAX_LIST = 100
FIRST_REMINDER = timedelta(hours=STEPS_HOURS[0])  # nothing held more recently is due


@dataclass(frozen=True, slots=True)
class PendingView:
    """A pending item as a caller sees it: the effective status (expiry applied) and the
    agent's reminder schedule."""

    record: PendingRecord
    status: str
    findings: tuple[Finding, ...]
    next_reminder_at: datetime | None
    message: ParsedMessage | None = None  # the held message, for detail views
    # The owner's approval request by mail (detail views): queued, sending, sent, failed, or
    # None when none could be sent.
    owner_notice: str | None = None


@dataclass(frozen=True, slots=True)
class ReminderNote:
    record: PendingRecord
    reminder: Reminder
    next_at: datetime | None

    @property
    def label(self) -> str:
        return describe(self.reminder)


def _status(record: PendingRecord, now: datetime) -> str:
    if record.status == "pending" and record.expires_at <= now:
        return "expired"
    return record.status


def _view(record: PendingRecord, now: datetime, *, detail: bool = False) -> PendingView:
    status = _status(record, now)
    upcoming = None
    if status == "pending":
        upcoming = next_after(record.created_at, now, record.expires_at)
    message = parse_message(record.raw) if detail and record.raw is not None else None
    findings = tuple(Finding.from_dict(f) for f in record.findings)
    return PendingView(record, status, findings, upcoming, message)


def _visible(principal: Principal, record: PendingRecord) -> bool:
    if principal.kind is PrincipalKind.admin:
        return True
    if principal.kind is PrincipalKind.owner:
        return record.owner_id == principal.owner_id
    return principal.agent is not None and record.agent_id == principal.agent.id


def _require_owner(principal: Principal, action: str) -> None:
    if principal.kind is PrincipalKind.agent:
        raise ApprovalRequiresOwner(
            f"agents cannot {action} held mail: only the owner decides. Tell your owner what "
            "you tried to send and why it was held, then wait for their decision "
            "(manage_pending_emails list shows its status)."
        )


async def _load(
    conn: AsyncConnection, principal: Principal, pending_id: str, *, with_raw: bool = False
) -> PendingRecord:
    record = await repo.get_pending(conn, pending_id, with_raw=with_raw)
    if record is None or not _visible(principal, record):
        raise PendingNotFound(f"no held message with id {pending_id}", field="id")
    return record


async def list_pending(
    ctx: AppContext, principal: Principal, *, status: str | None = None, limit: int = 50
) -> list[PendingView]:
    """Newest first: an agent sees its own, an owner their agents', the admin everything."""
    owner = None if principal.kind is PrincipalKind.admin else principal.owner_id
    agent = principal.agent.id if principal.agent is not None else None
    now = now_utc()
    stored = "pending" if status == "expired" else status
    async with ctx.db.read() as conn:
        records = await repo.list_pending(
            conn, owner_id=owner, agent_id=agent, status=stored, limit=min(limit, MAX_LIST)
        )
    views = [_view(r, now) for r in records]
    return [v for v in views if status is None or v.status == status]


async def get_pending(ctx: AppContext, principal: Principal, pending_id: str) -> PendingView:
    """One item with the held message itself (subject, bodies, attachment names)."""
    async with ctx.db.read() as conn:
        record = await _load(conn, principal, pending_id, with_raw=True)
        notice = await notice_repo.approval_status(conn, record.id)
    return replace(_view(record, now_utc(), detail=True), owner_notice=notice)


async def _expire(ctx: AppContext, record: PendingRecord, now: datetime) -> PendingResolved:
    async with ctx.db.write() as conn:
        if await repo.resolve(conn, record.id, status="expired", by="expiry", now=now):
            await audit.record(ctx, conn, _entry("pending.expired", record, "refused"))
    return PendingResolved(
        f"held message {record.id} expired at {record.expires_at:%Y-%m-%d %H:%M} UTC; ask the "
        "agent to send it again if it should still go"
    )


def _entry(operation: str, record: PendingRecord, status: str = "ok", **detail: str) -> AuditEntry:
    return AuditEntry(
        operation,
        status=status,
        owner_id=record.owner_id,
        agent_id=record.agent_id,
        recipients=len(record.envelope),
        detail={"pendingId": record.id, **detail},
    )


def _check_open(record: PendingRecord, now: datetime) -> None:
    status = _status(record, now)
    if status != "pending" and status != "expired":
        raise PendingResolved(f"held message {record.id} was already {status}")


def resolver(principal: Principal) -> str:
    return "admin" if principal.kind is PrincipalKind.admin else "owner"


async def approve(
    ctx: AppContext,
    principal: Principal,
    pending_id: str,
    *,
    expected_hash: str | None = None,
    by: str | None = None,
) -> outbox.SendResult:
    """Release a held message exactly once, as held, through the normal store path."""
    _require_owner(principal, "approve")
    now = now_utc()
    async with ctx.db.read() as conn:
        record = await _load(conn, principal, pending_id, with_raw=True)
        agent = await account_repo.agent_by_id(conn, record.agent_id)
    _check_open(record, now)
    if _status(record, now) == "expired":
        raise await _expire(ctx, record, now)
    raw = record.raw or b""
    if content_hash(raw, record.envelope) != record.content_hash:
        raise ApprovalMismatch(f"held message {pending_id} does not match what was held")
    if expected_hash is not None and expected_hash.strip().lower() != record.content_hash:
        raise ApprovalMismatch(
            "contentHash does not match the held message: review it again (GET /pending/{id}) "
            "and approve what you reviewed",
            field="contentHash",
        )
    if agent is None:
        raise AgentNotFound("the agent that wrote this message no longer exists")
    who = by or resolver(principal)

    async def claim(conn: AsyncConnection, message_id: str) -> None:
        if not await repo.resolve(conn, record.id, status="approved", by=who, now=now):
            raise PendingResolved(f"held message {record.id} was already resolved")

    async def audited(conn: AsyncConnection, message_id: str) -> None:
        # After the message is stored: folder rows are locked before the audit chain's
        # lock in every transaction (services/send_locks.py).
        await audit.record(ctx, conn, _entry("pending.approved", record, by=who))

    envelope = [Address(address) for address in record.envelope]
    return await outbox.store_outgoing(ctx, agent, raw, envelope, approval=claim, within=audited)


async def reject(
    ctx: AppContext, principal: Principal, pending_id: str, *, by: str | None = None
) -> PendingView:
    """Discard a held message for good."""
    _require_owner(principal, "reject")
    now = now_utc()
    who = by or resolver(principal)
    async with ctx.db.write() as conn:
        record = await _load(conn, principal, pending_id)
        _check_open(record, now)
        if not await repo.resolve(conn, record.id, status="rejected", by=who, now=now):
            raise PendingResolved(f"held message {record.id} was already resolved")
        await audit.record(ctx, conn, _entry("pending.rejected", record, by=who))
        updated = await _load(conn, principal, pending_id)
    return _view(updated, now)


async def claim_reminders(ctx: AppContext, principal: Principal) -> list[ReminderNote]:
    """The calling agent's follow-up reminders that fell due since it last asked (each is
    handed out once)."""
    agent = principal.require_agent()
    return await claim_agent_reminders(ctx, agent.id)


async def claim_agent_reminders(
    ctx: AppContext, agent_id: str, *, now: datetime | None = None
) -> list[ReminderNote]:
    """Hand out ``agent_id``'s due reminders, once each, whoever asks: the pending tools,
    check_messages and the event streams all claim through here, so no reminder reaches the
    agent twice."""
    now = now or now_utc()
    async with ctx.db.read() as conn:
        records = await repo.list_remindable(
            conn, now=now, held_before=now - FIRST_REMINDER, agent_id=agent_id, limit=MAX_LIST
        )
    due = [r for r in records if reminder_due(r, now) is not None]
    if not due:  # the common case: no write transaction for an agent that polls its mail
        return []
    # The read may be stale by now; the conditional claim decides who hands each one out.
    async with ctx.db.write() as conn:
        return [note for note in [await _claim(conn, r, now) for r in due] if note]


def reminder_due(record: PendingRecord, now: datetime) -> Reminder | None:
    """The reminder of ``record`` due at ``now`` and not yet handed out, if any."""
    due = last_due(record.created_at, now)
    if due is None or due.at >= record.expires_at or record.expires_at <= now:
        return None
    if record.reminded_at is not None and record.reminded_at >= due.at:
        return None
    return due


async def agents_with_due_reminders(
    ctx: AppContext, *, now: datetime | None = None, limit: int = 1000
) -> set[str]:
    """Agents that have a reminder due and not yet handed out (read only: nothing is
    claimed, so an agent that is not listening still gets it from check_messages)."""
    now = now or now_utc()
    async with ctx.db.read() as conn:
        records = await repo.list_remindable(
            conn, now=now, held_before=now - FIRST_REMINDER, limit=limit
        )
    return {r.agent_id for r in records if reminder_due(r, now) is not None}


async def _claim(
    conn: AsyncConnection, record: PendingRecord, now: datetime
) -> ReminderNote | None:
    due = reminder_due(record, now)
    if due is None or not await repo.claim_reminder(conn, record.id, due.at):
        return None
    return ReminderNote(record, due, next_after(record.created_at, now, record.expires_at))
