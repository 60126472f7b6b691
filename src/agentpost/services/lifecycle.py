"""Account lifecycle: deleting an agent with an archive and a report, deletion reports, and
cleaning up inactive agents.

Deleting an agent never loses its mail silently: in the same transaction as the deletion,
every message is copied (raw bytes included) into an archive under a deletion report that
says who deleted it, when, why, how many messages each folder held and with whom the agent
corresponded most. Owners see their own agents' reports; the admin sees all.

Inactive means not persistent and no activity (any authenticated request) for ``hours``.
Persistent agents — the first agent, those created persistent, those flagged with
``set_persistent`` — are never cleaned up, so a cleanup can never remove every agent.

An agent whose outbound mail is still queued or retrying is not deleted (``delivery_pending``):
its delivery rows would go with it. Cleanup skips such agents until their mail is done.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.errors import AgentNotFound, DeletionReportNotFound, DeliveryPending, InvalidInput
from agentpost.services import accounts
from agentpost.services.accounts import Principal, PrincipalKind, now_utc
from agentpost.services.audit import AuditEntry, record
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import delivery as delivery_repo
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import lifecycle as repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.repositories.lifecycle import ArchivedRecord, ReportRecord

MAX_REASON = 1000
MAX_HOURS = 24 * 365 * 10


@dataclass(frozen=True, slots=True)
class CleanupResult:
    agents: list[AgentRecord]
    dry_run: bool


def _owner_scope(principal: Principal) -> str | None:
    principal.require_admin_or_owner()
    return None if principal.kind is PrincipalKind.admin else principal.owner_id


async def delete_agent(
    ctx: AppContext,
    principal: Principal,
    name_or_id: str,
    *,
    reason: str | None = None,
    deleted_by: str | None = None,
) -> tuple[AgentRecord, ReportRecord]:
    """Archive the agent's mailbox, write its deletion report, then delete it."""
    principal.require_admin_or_owner()
    reason = (reason or "").strip()[:MAX_REASON] or None
    by = (deleted_by or "").strip()[:40] or "api"
    agent = await accounts.find_managed_agent(ctx, principal, name_or_id)
    async with ctx.db.write() as conn:
        # Deleting the messages updates their folders' rows (triggers): lock the rows first,
        # in the order every writer keeps (services/send_locks.py).
        folders = await folder_repo.list_folders(conn, agent.id)
        await folder_repo.lock_folders(conn, [f.id for f in folders])
        await _check_no_live_deliveries(conn, agent)
        summary = await repo.mailbox_summary(conn, agent)
        report = ReportRecord(
            id=str(uuid.uuid4()),
            owner_id=agent.owner_id,
            agent_id=agent.id,
            agent_name=agent.name,
            agent_email=agent.address,
            agent_role=agent.role,
            deleted_at=now_utc(),
            deleted_by=f"{by} ({principal.kind.value})",
            reason=reason,
            summary=summary,
        )
        await repo.insert_report(conn, report)
        await repo.archive_mailbox(conn, report.id, agent.id)
        await message_repo.purge_agent(conn, ctx.db.dialect, agent.id)
        await account_repo.delete_agent(conn, agent.id)
        entry = AuditEntry(
            "agent.deleted",
            owner_id=agent.owner_id,
            agent_id=agent.id,
            detail={"report": report.id, "archived": summary.total, "by": report.deleted_by},
        )
        await record(ctx, conn, entry)
    ctx.last_activity.pop(agent.id, None)
    accounts.forget_callers(ctx)  # its key must stop working at once
    return agent, report


async def _check_no_live_deliveries(conn: AsyncConnection, agent: AgentRecord) -> None:
    """The agent's delivery rows go with it (ON DELETE CASCADE): refuse while any is still in
    flight rather than cancel mail silently (the same rule as expunging a Sent copy,
    services/mailbox.check_no_live_deliveries)."""
    live = await delivery_repo.live_count_for_agent(conn, agent.id)
    if live:
        raise DeliveryPending(
            f'agent "{agent.name}" still has {live} delivery row(s) queued, sending or '
            "retrying; deleting it now would cancel that mail. Nothing was deleted. Wait until "
            f"they are delivered or failed (agentpost queue list --agent {agent.name}), or "
            f"cancel them explicitly (agentpost queue cancel --agent {agent.name} --all)"
        )


async def list_reports(ctx: AppContext, principal: Principal) -> list[ReportRecord]:
    """Deletion reports, newest first: the owner's own, or all for the admin."""
    owner = _owner_scope(principal)
    async with ctx.db.read() as conn:
        return await repo.list_reports(conn, owner)


async def get_report(
    ctx: AppContext, principal: Principal, report_id: str
) -> tuple[ReportRecord, list[ArchivedRecord]]:
    """One report with its archived messages (summaries; raw bytes via ``archived_raw``)."""
    owner = _owner_scope(principal)
    async with ctx.db.read() as conn:
        report = await repo.get_report(conn, report_id)
        if report is None or (owner is not None and report.owner_id != owner):
            raise DeletionReportNotFound(
                f"no deletion report {report_id}; deletion_reports lists them"
            )
        return report, await repo.archived_of(conn, report_id)


async def archived_raw(
    ctx: AppContext, principal: Principal, report_id: str, archived_id: int
) -> bytes:
    """The exact bytes of one archived message."""
    await get_report(ctx, principal, report_id)
    async with ctx.db.read() as conn:
        raw = await repo.archived_raw(conn, report_id, archived_id)
    if raw is None:
        raise DeletionReportNotFound(f"report {report_id} has no archived message {archived_id}")
    return raw


def _check_hours(hours: float) -> timedelta:
    if not 1 <= hours <= MAX_HOURS:
        raise InvalidInput(f"hours must be between 1 and {MAX_HOURS}", field="hours")
    return timedelta(hours=hours)


async def list_inactive(ctx: AppContext, principal: Principal, hours: float) -> list[AgentRecord]:
    """Agents that could be cleaned up: not persistent and idle for ``hours``."""
    owner = _owner_scope(principal)
    before = now_utc() - _check_hours(hours)
    async with ctx.db.read() as conn:
        return await repo.inactive_agents(conn, owner, before)


async def cleanup(
    ctx: AppContext, principal: Principal, hours: float, *, dry_run: bool
) -> CleanupResult:
    """Delete (with archive and report) every inactive agent, or just name them."""
    idle = await list_inactive(ctx, principal, hours)
    if dry_run:
        return CleanupResult(idle, True)
    deleted = []
    reason = f"inactive for more than {hours:g} hours"
    for agent in idle:
        try:
            removed, _report = await delete_agent(
                ctx, principal, agent.id, reason=reason, deleted_by="cleanup"
            )
        except AgentNotFound:  # deleted meanwhile by someone else
            continue
        except DeliveryPending:  # its mail is still on its way: a later cleanup takes it
            continue
        deleted.append(removed)
    return CleanupResult(deleted, False)


async def set_persistent(
    ctx: AppContext, principal: Principal, agent_id: str, persistent: bool
) -> AgentRecord:
    """Protect an agent from cleanup (or remove the protection)."""
    agent = await accounts.find_managed_agent(ctx, principal, agent_id)
    async with ctx.db.write() as conn:
        await repo.set_persistent(conn, agent.id, persistent)
        updated = await account_repo.agent_by_id(conn, agent.id)
    if updated is None:
        raise AgentNotFound(f"agent {agent_id} not found")
    return updated
