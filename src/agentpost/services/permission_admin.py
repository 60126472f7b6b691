"""Owners assign SMTP configurations to agents: list, set (create or replace) and remove rows.

Only the admin and the agent's owner may (agents get 403 ``owner_key_required``); the
configuration must belong to the agent's owner. Every change is an audit row
(``permission.changed`` / ``permission.removed``). Enforcement is services/permissions.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agentpost.domain.send_policy import PatternError, normalize_patterns
from agentpost.errors import InvalidInput, PermissionNotFound, SmtpConfigNotFound
from agentpost.services import accounts, smtp_configs
from agentpost.services.accounts import Principal, now_utc
from agentpost.services.audit import AuditEntry, record
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import permissions as repo
from agentpost.storage.repositories.permissions import PermissionRecord

MAX_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class PermissionInput:
    """A full row (PUT semantics: what is left out gets its default)."""

    can_send: bool = True
    daily_limit: int | None = None
    hourly_limit: int | None = None
    allowed_recipients: list[str] = field(default_factory=list)
    is_default: bool = False


def _check_limit(value: int | None, name: str) -> int | None:
    if value is not None and not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(
            f"{name} must be between 1 and {MAX_LIMIT} messages, or null for no limit",
            field=name,
        )
    return value


async def _agent(ctx: AppContext, principal: Principal, name: str) -> AgentRecord:
    principal.require_admin_or_owner()
    return await accounts.find_agent(ctx, principal, name)


async def list_permissions(
    ctx: AppContext, principal: Principal, agent_name: str
) -> tuple[AgentRecord, list[PermissionRecord]]:
    agent = await _agent(ctx, principal, agent_name)
    async with ctx.db.read() as conn:
        return agent, await repo.permissions_of(conn, agent.id)


async def set_permission(
    ctx: AppContext, principal: Principal, agent_name: str, config_id: str, data: PermissionInput
) -> PermissionRecord:
    """Create or replace the agent's row for ``config_id``."""
    agent = await _agent(ctx, principal, agent_name)
    try:
        patterns = normalize_patterns(data.allowed_recipients)
    except PatternError as exc:
        raise InvalidInput(str(exc), field="allowedRecipients") from exc
    now = now_utc()
    row = PermissionRecord(
        agent_id=agent.id,
        owner_id=agent.owner_id,
        config_id=config_id,
        can_send=data.can_send,
        daily_limit=_check_limit(data.daily_limit, "dailyLimit"),
        hourly_limit=_check_limit(data.hourly_limit, "hourlyLimit"),
        allowed_recipients=patterns,
        is_default=data.is_default,
        created_at=now,
        updated_at=now,
    )
    async with ctx.db.write() as conn:
        limits = await smtp_configs.config_limits(conn, config_id)
        if limits is None or limits.owner_id != agent.owner_id:
            raise SmtpConfigNotFound(
                f"no SMTP configuration {config_id} of this agent's owner; "
                "GET /smtp-configs lists them"
            )
        created = await repo.save_permission(conn, row)
        detail: dict[str, object] = {
            "created": created,
            "canSend": row.can_send,
            "dailyLimit": row.daily_limit,
            "hourlyLimit": row.hourly_limit,
            "allowedRecipients": len(patterns),
            "isDefault": row.is_default,
        }
        await record(ctx, conn, _entry("permission.changed", agent, config_id, detail))
        saved = next(
            r for r in await repo.permissions_of(conn, agent.id) if r.config_id == config_id
        )
    return saved


async def remove_permission(
    ctx: AppContext, principal: Principal, agent_name: str, config_id: str
) -> None:
    agent = await _agent(ctx, principal, agent_name)
    async with ctx.db.write() as conn:
        if not await repo.delete_permission(conn, agent.id, config_id):
            raise PermissionNotFound(
                f"agent {agent.name} has no permission for configuration {config_id}"
            )
        await record(ctx, conn, _entry("permission.removed", agent, config_id, {}))


def _entry(
    operation: str, agent: AgentRecord, config_id: str, detail: Mapping[str, object]
) -> AuditEntry:
    return AuditEntry(
        operation,
        owner_id=agent.owner_id,
        agent_id=agent.id,
        config_id=config_id,
        detail=dict(detail),
    )
