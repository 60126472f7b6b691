"""The audit log: owners read their own rows, the admin reads all; and the chain check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from agentpost.api.deps import AdminOrOwnerDep, CtxDep
from agentpost.api.schemas import parse_instant
from agentpost.api.smtp_schemas import (
    AuditPagePublic,
    AuditVerifyPublic,
    audit_entry_of,
)
from agentpost.errors import InvalidInput
from agentpost.services import audit
from agentpost.storage.repositories.audit import AuditFilter

router = APIRouter(prefix="/audit", tags=["audit"])


def _instant(value: str | None, field: str) -> datetime | None:
    try:
        return parse_instant(value, field)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None


@router.get("")
async def list_audit(
    ctx: CtxDep,
    principal: AdminOrOwnerDep,
    agent_id: Annotated[str | None, Query(alias="agentId")] = None,
    config_id: Annotated[str | None, Query(alias="configId")] = None,
    owner_id: Annotated[str | None, Query(alias="ownerId", description="Admin only.")] = None,
    operation: Annotated[
        str | None, Query(description='Exact ("config.created") or a prefix ending in "."')
    ] = None,
    status: Annotated[str | None, Query(description="ok, refused, failed, deferred, held")] = None,
    since: Annotated[str | None, Query(description="ISO 8601, inclusive.")] = None,
    until: Annotated[str | None, Query(description="ISO 8601, exclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=audit.PAGE_MAX)] = audit.PAGE_DEFAULT,
    cursor: Annotated[int | None, Query(ge=1, description="nextCursor of the last page.")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditPagePublic:
    """Audit rows, newest first, filtered and paginated (cursor or offset)."""
    f = AuditFilter(
        owner_id=owner_id,
        agent_id=agent_id,
        config_id=config_id,
        operation=operation,
        status=status,
        since=_instant(since, "since"),
        until=_instant(until, "until"),
    )
    page = await audit.list_audit(ctx, principal, f, limit=limit, cursor=cursor, offset=offset)
    return AuditPagePublic(
        entries=[audit_entry_of(r) for r in page.entries],
        total=page.total,
        next_cursor=page.next_cursor,
    )


@router.get("/verify")
async def verify_audit(ctx: CtxDep, principal: AdminOrOwnerDep) -> AuditVerifyPublic:
    """Walk the hash chain and report the first broken row, if any."""
    report = await audit.verify_chain(ctx, principal)
    return AuditVerifyPublic(
        ok=report.ok,
        checked=report.checked,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        broken_seq=report.broken_seq,
        reason=report.reason,
    )
