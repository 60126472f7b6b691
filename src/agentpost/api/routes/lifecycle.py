"""Account lifecycle (owner or admin): deletion reports with the archived mail, inactive agents,
cleanup and the persistent flag. Deleting an agent is ``DELETE /accounts/{nameOrId}``
(routes/accounts.py), which archives through services/lifecycle.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import Field

from agentpost.api.deps import AdminOrOwnerDep, CtxDep
from agentpost.api.routes.mail import UNTRUSTED_HEADERS
from agentpost.api.schemas import ApiModel, UtcDatetime
from agentpost.services import lifecycle
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories.lifecycle import ReportRecord

router = APIRouter(prefix="/accounts", tags=["lifecycle"])


class CorrespondentPublic(ApiModel):
    address: str
    count: int


class DeletionSummaryPublic(ApiModel):
    id: str
    agent_id: str
    agent_name: str
    agent_email: str
    agent_role: str
    deleted_at: UtcDatetime
    deleted_by: str
    reason: str | None
    total_emails: int
    folders: dict[str, int]
    first_date: UtcDatetime | None
    last_date: UtcDatetime | None
    top_correspondents: list[CorrespondentPublic]


class ArchivedEmailPublic(ApiModel):
    id: int = Field(description="Archive id; GET …/messages/{id}/raw returns the bytes.")
    folder: str
    uid: int
    message_id: str
    subject: str
    from_: str = Field(alias="from")
    to: list[str]
    date: UtcDatetime | None
    direction: str
    preview: str


class DeletionReportPublic(DeletionSummaryPublic):
    emails: list[ArchivedEmailPublic]


class DeletionsPublic(ApiModel):
    deletions: list[DeletionSummaryPublic]


class InactiveAgentPublic(ApiModel):
    id: str
    name: str
    email: str
    role: str
    last_activity_at: UtcDatetime | None
    persistent: bool
    created_at: UtcDatetime


class InactivePublic(ApiModel):
    agents: list[InactiveAgentPublic]
    count: int


class CleanupCreate(ApiModel):
    hours: float = Field(default=24, ge=1, description="Idle for at least this many hours.")
    dry_run: bool = Field(default=False, description="Only say who would be deleted.")


class CleanupPublic(ApiModel):
    dry_run: bool
    count: int
    would_delete: list[InactiveAgentPublic] | None = None
    deleted: list[str] | None = None


class PersistentUpdate(ApiModel):
    persistent: bool


class PersistentPublic(ApiModel):
    ok: bool = True
    id: str
    name: str
    persistent: bool


def _summary(report: ReportRecord) -> DeletionSummaryPublic:
    s = report.summary
    return DeletionSummaryPublic(
        id=report.id,
        agent_id=report.agent_id,
        agent_name=report.agent_name,
        agent_email=report.agent_email,
        agent_role=report.agent_role,
        deleted_at=report.deleted_at,
        deleted_by=report.deleted_by,
        reason=report.reason,
        total_emails=s.total,
        folders=s.folder_counts,
        first_date=s.first_date,
        last_date=s.last_date,
        top_correspondents=[
            CorrespondentPublic(address=a, count=n) for a, n in s.top_correspondents
        ],
    )


def _inactive(agent: AgentRecord) -> InactiveAgentPublic:
    return InactiveAgentPublic(
        id=agent.id,
        name=agent.name,
        email=agent.address,
        role=agent.role,
        last_activity_at=agent.last_activity_at,
        persistent=agent.persistent,
        created_at=agent.created_at,
    )


@router.get("/deletions", response_model_exclude_none=True)
async def list_deletions(ctx: CtxDep, principal: AdminOrOwnerDep) -> DeletionsPublic:
    """Deletion reports of your agents (the admin sees all), newest first."""
    reports = await lifecycle.list_reports(ctx, principal)
    return DeletionsPublic(deletions=[_summary(r) for r in reports])


@router.get("/deletions/{report_id}")
async def read_deletion(
    ctx: CtxDep, principal: AdminOrOwnerDep, report_id: str
) -> DeletionReportPublic:
    """One deletion report with the archived messages (summaries and previews)."""
    report, archived = await lifecycle.get_report(ctx, principal, report_id)
    emails = [
        ArchivedEmailPublic(
            id=a.id,
            folder=a.folder,
            uid=a.uid,
            message_id=a.message_id,
            subject=a.subject,
            **{"from": a.from_addr},
            to=[str(r.get("address", "")) for r in a.to_addrs],
            date=a.date,
            direction=a.direction,
            preview=a.preview,
        )
        for a in archived
    ]
    return DeletionReportPublic(**_summary(report).model_dump(), emails=emails)


@router.get(
    "/deletions/{report_id}/messages/{archived_id}/raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
async def read_archived_raw(
    ctx: CtxDep,
    principal: AdminOrOwnerDep,
    report_id: str,
    archived_id: Annotated[int, Path(ge=1)],
) -> Response:
    """An archived message exactly as it was stored (RFC 5322 bytes)."""
    raw = await lifecycle.archived_raw(ctx, principal, report_id, archived_id)
    return Response(raw, media_type="message/rfc822", headers=UNTRUSTED_HEADERS)


@router.get("/inactive")
async def list_inactive(
    ctx: CtxDep,
    principal: AdminOrOwnerDep,
    hours: Annotated[float, Query(ge=1, description="Idle for at least this many hours.")] = 24,
) -> InactivePublic:
    """Agents that are not persistent and have been idle for ``hours``, longest idle first."""
    agents = await lifecycle.list_inactive(ctx, principal, hours)
    return InactivePublic(agents=[_inactive(a) for a in agents], count=len(agents))


@router.post("/cleanup", response_model_exclude_none=True)
async def cleanup_agents(
    ctx: CtxDep, principal: AdminOrOwnerDep, body: CleanupCreate
) -> CleanupPublic:
    """Delete inactive agents, each with an archive and a deletion report (or a dry run)."""
    result = await lifecycle.cleanup(ctx, principal, body.hours, dry_run=body.dry_run)
    if result.dry_run:
        return CleanupPublic(
            dry_run=True,
            count=len(result.agents),
            would_delete=[_inactive(a) for a in result.agents],
        )
    return CleanupPublic(
        dry_run=False, count=len(result.agents), deleted=[a.name for a in result.agents]
    )


@router.patch("/{agent_id}/persistent")
async def set_persistent(
    ctx: CtxDep, principal: AdminOrOwnerDep, agent_id: str, body: PersistentUpdate
) -> PersistentPublic:
    """Protect an agent from cleanup, or lift the protection (by id or name)."""
    agent = await lifecycle.set_persistent(ctx, principal, agent_id, body.persistent)
    return PersistentPublic(id=agent.id, name=agent.name, persistent=agent.persistent)
