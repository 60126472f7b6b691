"""Accounts: agents are created, listed and deleted by the admin or their owner; an agent
reads and updates itself; anyone with a key can look agents up in the directory. Agents' and
owners' keys are rotated here: a new key, shown once, and the old one stops working."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from agentpost.api.deps import AdminOrOwnerDep, AgentDep, CtxDep, PrincipalDep
from agentpost.api.presenters import agent_of, created_agent_of, directory_entry_of
from agentpost.api.schemas import (
    AgentCreate,
    AgentCreatedPublic,
    AgentDeletedPublic,
    AgentKeyPublic,
    AgentPublic,
    AgentsPublic,
    AgentUpdate,
    DirectoryEntryPublic,
    DirectoryPublic,
    OwnerKeyPublic,
)
from agentpost.errors import InvalidInput
from agentpost.services import accounts, lifecycle
from agentpost.services.context import AppContext
from agentpost.storage.records import OwnerRecord

router = APIRouter(prefix="/accounts", tags=["accounts"])


def _check_domain(ctx: AppContext, domain: str | None) -> None:
    if domain is not None and domain.strip().lower() != ctx.settings.domain:
        raise InvalidInput(
            f"agents live on {ctx.settings.domain}; other domains are not supported yet",
            field="domain",
        )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_account(
    ctx: CtxDep, principal: AdminOrOwnerDep, body: AgentCreate
) -> AgentCreatedPublic:
    """Create an agent with its mailbox. The API key in the answer is shown only once."""
    _check_domain(ctx, body.domain)
    record, key = await accounts.create_agent(
        ctx,
        principal,
        name=body.name,
        role=body.role,
        metadata=body.metadata,
        persistent=body.persistent,
    )
    return created_agent_of(record, key)


@router.get("")
async def list_accounts(ctx: CtxDep, principal: AdminOrOwnerDep) -> AgentsPublic:
    """The caller's agents (the admin sees every agent)."""
    return AgentsPublic(agents=[agent_of(a) for a in await accounts.list_agents(ctx, principal)])


@router.get("/me")
async def read_me(agent: AgentDep) -> AgentPublic:
    """The calling agent."""
    return agent_of(agent)


@router.patch("/me")
async def update_me(ctx: CtxDep, principal: PrincipalDep, body: AgentUpdate) -> AgentPublic:
    """Merge metadata into the calling agent's (a null value removes that key)."""
    return agent_of(await accounts.update_metadata(ctx, principal, body.metadata))


@router.get("/directory")
async def read_directory(ctx: CtxDep, principal: PrincipalDep) -> DirectoryPublic:
    """Agents the caller can address: those of the same owner."""
    agents = await accounts.directory(ctx, principal)
    return DirectoryPublic(agents=[directory_entry_of(a) for a in agents])


@router.get("/directory/{name}")
async def read_directory_entry(
    ctx: CtxDep, principal: PrincipalDep, name: str
) -> DirectoryEntryPublic:
    """One agent of the directory, by name."""
    return directory_entry_of(await accounts.find_agent(ctx, principal, name))


@router.delete("/{name_or_id}")
async def delete_account(
    ctx: CtxDep,
    principal: AdminOrOwnerDep,
    name_or_id: str,
    reason: Annotated[str | None, Query(max_length=1000)] = None,
    deleted_by: Annotated[str | None, Query(alias="deletedBy", max_length=40)] = None,
) -> AgentDeletedPublic:
    """Delete an agent, by name or by id. Its mailbox is archived under a deletion report
    (GET /accounts/deletions/{id}) before the agent and its mail are removed."""
    agent, report = await lifecycle.delete_agent(
        ctx, principal, name_or_id, reason=reason, deleted_by=deleted_by
    )
    return AgentDeletedPublic(
        deleted=True,
        name=agent.name,
        email=agent.address,
        deletion_id=report.id,
        emails_archived=report.summary.total,
        deleted_at=report.deleted_at,
        top_correspondents=[address for address, _count in report.summary.top_correspondents],
    )


@router.post("/{name_or_id}/key")
async def rotate_account_key(
    ctx: CtxDep, principal: AdminOrOwnerDep, name_or_id: str
) -> AgentKeyPublic:
    """Give an agent, by name or by id, a new API key; its mailbox and settings stay. The new
    key in the answer is shown only once. The old key stops working at once, so clients that
    still use it get 401 until they are given the new one."""
    record, key = await accounts.rotate_agent_key(ctx, principal, name_or_id)
    return AgentKeyPublic(**agent_of(record).model_dump(by_alias=False), api_key=key)


@router.post("/owners/{owner_id}/key")
async def rotate_owner_key(
    ctx: CtxDep, principal: AdminOrOwnerDep, owner_id: str
) -> OwnerKeyPublic:
    """Give an owner a new owner key (the master key: any owner; an owner key: its own). The
    new key in the answer is shown only once; the old key stops working at once. The default
    owner has no owner key (409 `default_owner_keyless`): the master key acts for it."""
    owner, key = await accounts.rotate_owner_key(ctx, principal, owner_id)
    return _owner_key_of(owner, key)


def _owner_key_of(owner: OwnerRecord, key: str) -> OwnerKeyPublic:
    return OwnerKeyPublic(
        id=owner.id,
        name=owner.name,
        email=owner.email,
        is_default=owner.is_default,
        created_at=owner.created_at,
        api_key=key,
    )
