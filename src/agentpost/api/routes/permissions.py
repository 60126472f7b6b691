"""Agent permissions (owner or admin) and an agent's own send budget.

GET    /accounts/{name}/permissions            the agent's rows
PUT    /accounts/{name}/permissions/{configId} create or replace one row
DELETE /accounts/{name}/permissions/{configId} remove it
GET    /mail/budget                            the calling agent's remaining budget
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field

from agentpost.api.deps import AdminOrOwnerDep, AgentDep, CtxDep
from agentpost.api.schemas import ApiModel, OkPublic, UtcDatetime
from agentpost.services import permission_admin, permissions
from agentpost.storage.repositories.permissions import PermissionRecord

router = APIRouter(tags=["permissions"])

ConfigIdPath = Annotated[
    str, Path(alias="configId", min_length=1, max_length=36, description="SMTP configuration id.")
]


class PermissionUpdate(ApiModel):
    can_send: bool = Field(default=True, description="Whether the agent may send through it.")
    daily_limit: int | None = Field(
        default=None, description="Messages per sliding 24 hours (null: no limit of its own)."
    )
    hourly_limit: int | None = Field(default=None, description="Messages per sliding hour.")
    allowed_recipients: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Exact addresses, *@domain, or /regex/ (full match); empty: anyone.",
    )
    is_default: bool = Field(default=False, description="Try this configuration first.")


class PermissionPublic(ApiModel):
    agent: str
    config_id: str
    can_send: bool
    daily_limit: int | None
    hourly_limit: int | None
    allowed_recipients: list[str]
    is_default: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime


class PermissionsPublic(ApiModel):
    agent: str
    policy: str = Field(description="`default` (no rows: the server's defaults) or `assigned`.")
    permissions: list[PermissionPublic]


class WindowPublic(ApiModel):
    name: str = Field(description="`hourly`, `daily` or `config_daily`.")
    scope: str = Field(description="`agent` (your sends) or `configuration` (all its agents).")
    limit: int | None
    used: int
    remaining: int | None
    resets_at: UtcDatetime | None = Field(
        description="When the oldest counted send leaves the window (null: nothing counted)."
    )


class BudgetRoutePublic(ApiModel):
    config_id: str | None = Field(description="null: no configuration yet; mail waits queued.")
    is_default: bool
    can_send: bool
    active: bool
    allowed_recipients: list[str]
    windows: list[WindowPublic]


class BudgetPublic(ApiModel):
    policy: str
    can_send: bool
    local_recipients: str = Field(description="Mail to other agents here is never counted.")
    configurations: list[BudgetRoutePublic]


def _public(agent_name: str, row: PermissionRecord) -> PermissionPublic:
    return PermissionPublic(
        agent=agent_name,
        config_id=row.config_id,
        can_send=row.can_send,
        daily_limit=row.daily_limit,
        hourly_limit=row.hourly_limit,
        allowed_recipients=row.allowed_recipients,
        is_default=row.is_default,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.get("/accounts/{name}/permissions")
async def list_permissions(ctx: CtxDep, principal: AdminOrOwnerDep, name: str) -> PermissionsPublic:
    """The agent's SMTP permissions, the default first."""
    agent, rows = await permission_admin.list_permissions(ctx, principal, name)
    return PermissionsPublic(
        agent=agent.name,
        policy="assigned" if rows else "default",
        permissions=[_public(agent.name, r) for r in rows],
    )


@router.put("/accounts/{name}/permissions/{configId}")
async def set_permission(
    ctx: CtxDep,
    principal: AdminOrOwnerDep,
    name: str,
    config_id: ConfigIdPath,
    body: PermissionUpdate,
) -> PermissionPublic:
    """Let the agent use a configuration, with limits and allowed recipients (replaces)."""
    data = permission_admin.PermissionInput(
        can_send=body.can_send,
        daily_limit=body.daily_limit,
        hourly_limit=body.hourly_limit,
        allowed_recipients=body.allowed_recipients,
        is_default=body.is_default,
    )
    row = await permission_admin.set_permission(ctx, principal, name, config_id, data)
    return _public(name, row)


@router.delete("/accounts/{name}/permissions/{configId}")
async def remove_permission(
    ctx: CtxDep, principal: AdminOrOwnerDep, name: str, config_id: ConfigIdPath
) -> OkPublic:
    """Take a configuration away from the agent."""
    await permission_admin.remove_permission(ctx, principal, name, config_id)
    return OkPublic()


@router.get("/mail/budget")
async def read_budget(ctx: CtxDep, agent: AgentDep) -> BudgetPublic:
    """What you may still send: per configuration, each window's limit, use and reset."""
    budget = await permissions.send_budget(ctx, agent)
    return BudgetPublic(
        policy=budget.policy,
        can_send=budget.can_send,
        local_recipients="unlimited" if budget.can_send else "not permitted",
        configurations=[
            BudgetRoutePublic(
                config_id=b.route.config_id,
                is_default=b.route.is_default,
                can_send=b.route.can_send,
                active=b.active,
                allowed_recipients=b.route.allowed_recipients,
                windows=[
                    WindowPublic(
                        name=w.name,
                        scope=w.scope,
                        limit=w.limit,
                        used=w.used,
                        remaining=w.remaining,
                        resets_at=w.resets_at,
                    )
                    for w in b.windows
                ],
            )
            for b in budget.routes
        ],
    )
