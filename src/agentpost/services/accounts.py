"""Accounts: the master key, owners and agents, and turning a bearer key into a principal.

Keys are shown once, at creation, and stored only as keyed hashes. Single-user installs never
see owners: a default owner exists and the master key acts for it.
"""

from __future__ import annotations

import enum
import hmac
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import AddressError, check_agent_name
from agentpost.domain.folders import SPECIAL_FOLDERS
from agentpost.domain.guard.approval_reply import RESERVED_NAMES
from agentpost.errors import (
    AgentExists,
    AgentNotFound,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from agentpost.services.context import AppContext, new_key
from agentpost.storage.records import AgentRecord, OwnerRecord
from agentpost.storage.repositories import accounts as repo
from agentpost.storage.repositories import folders as folder_repo

MASTER_HASH_KEY = "master_key_hash"
DOMAIN_KEY = "mail_domain"
BOOTSTRAP_LOCK = 7210432  # advisory lock id; 7210431 is the migration lock
ROLES = ("secretary", "assistant", "researcher", "writer", "custom")
DEFAULT_ROLE = "secretary"
ACTIVITY_THROTTLE_SECONDS = 60.0
MAX_METADATA_BYTES = 64 * 1024


class PrincipalKind(enum.StrEnum):
    admin = "admin"
    owner = "owner"
    agent = "agent"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin (master key), an owner, or an agent."""

    kind: PrincipalKind
    owner_id: str
    agent: AgentRecord | None = None

    def require_agent(self) -> AgentRecord:
        if self.agent is None:
            raise Forbidden(
                "this endpoint acts on an agent's own mailbox: call it with the agent's API key",
                code="agent_key_required",
            )
        return self.agent

    def require_admin_or_owner(self) -> None:
        if self.kind is PrincipalKind.agent:
            raise Forbidden(
                "this endpoint needs the master key or an owner key, not an agent key",
                code="owner_key_required",
            )


def now_utc() -> datetime:
    return datetime.now(UTC)


async def ensure_bootstrap(ctx: AppContext) -> str | None:
    """Make sure a default owner and a master key exist.

    Returns a newly generated master key (to be shown once), or None when the key came from
    settings or already existed.
    """
    configured = ctx.settings.master_key
    async with ctx.db.write() as conn:
        # Several processes may start at once on one PostgreSQL database: one bootstraps.
        await ctx.db.serialize(conn, BOOTSTRAP_LOCK)
        if await repo.default_owner(conn) is None:
            await repo.insert_owner(
                conn,
                id=str(uuid.uuid4()),
                name="default",
                email=None,
                key_hash=None,
                is_default=True,
                now=now_utc(),
            )
        await _settle_domain(ctx, conn)
        if configured is not None:
            await repo.set_state(
                conn, MASTER_HASH_KEY, ctx.keys.hash(configured.get_secret_value())
            )
            return None
        if await repo.get_state(conn, MASTER_HASH_KEY) is not None:
            return None
        key = new_key("mk_")
        await repo.set_state(conn, MASTER_HASH_KEY, ctx.keys.hash(key))
        return key


async def _settle_domain(ctx: AppContext, conn: AsyncConnection) -> None:
    """Agents' addresses are fixed at creation, so the mail domain belongs to the database.

    The first start records it. Later, a process that was not told a domain adopts the
    recorded one (so `agentpost agent create` needs no --domain), and one told a different
    domain is refused rather than creating agents nobody can reach.
    """
    stored = await repo.get_state(conn, DOMAIN_KEY)
    if stored is None:
        await repo.set_state(conn, DOMAIN_KEY, ctx.settings.domain)
    elif stored != ctx.settings.domain:
        if "domain" in ctx.settings.model_fields_set:
            raise Conflict(
                f"this database serves the mail domain {stored}, not {ctx.settings.domain}: "
                f"start with --domain {stored} (AGENTPOST_DOMAIN); renaming a domain is not "
                "supported yet",
                code="domain_mismatch",
            )
        ctx.settings = ctx.settings.model_copy(update={"domain": stored})


async def admin_principal(ctx: AppContext) -> Principal:
    """The admin acting for the default owner: for trusted local callers such as the CLI,
    which already hold the database itself."""
    async with ctx.db.read() as conn:
        owner = await repo.default_owner(conn)
    if owner is None:
        raise NotFound("the database has no default owner yet; run `agentpost init` first")
    return Principal(PrincipalKind.admin, owner.id)


async def list_owners(ctx: AppContext, principal: Principal) -> list[OwnerRecord]:
    if principal.kind is not PrincipalKind.admin:
        raise Forbidden("only the master key can list owners", code="master_key_required")
    async with ctx.db.read() as conn:
        return await repo.list_owners(conn)


async def authenticate(ctx: AppContext, token: str) -> Principal:
    """Resolve a bearer key. Raises Unauthenticated for anything unknown.

    Every request asks, so a known key's caller is kept for a moment (``AppContext.principals``;
    unknown keys are not kept). Deleting an agent or changing its metadata forgets them all
    (``forget_callers``), in every process of a PostgreSQL deployment."""
    token = token.strip()
    if not token:
        raise Unauthenticated("missing API key: send Authorization: Bearer <key>")
    digest = ctx.keys.hash(token)

    async def load() -> Principal:
        principal = await _lookup_principal(ctx, digest, token[:3])
        if principal is None:
            raise Unauthenticated("invalid API key")
        return principal

    principal = await ctx.principals.get(digest, load)
    if principal.agent is not None:
        await _touch(ctx, principal.agent.id)
    return principal


def forget_callers(ctx: AppContext) -> None:
    """A key's caller changed or went away (call after the commit): no cached caller survives."""
    ctx.principals.forget()


async def _lookup_principal(ctx: AppContext, digest: str, prefix: str) -> Principal | None:
    async with ctx.db.read() as conn:
        if prefix == "ak_":
            agent = await repo.agent_by_key_hash(conn, digest)
            if agent is not None:
                return Principal(PrincipalKind.agent, agent.owner_id, agent)
        elif prefix == "ok_":
            owner = await repo.owner_by_key_hash(conn, digest)
            if owner is not None:
                return Principal(PrincipalKind.owner, owner.id)
        master = await repo.get_state(conn, MASTER_HASH_KEY)
        if master is not None and hmac.compare_digest(master, digest):
            default = await repo.default_owner(conn)
            if default is not None:
                return Principal(PrincipalKind.admin, default.id)
    return None


async def _touch(ctx: AppContext, agent_id: str) -> None:
    # Activity feeds inactive-agent cleanup; once a minute per agent is plenty.
    now = time.monotonic()
    if now - ctx.last_activity.get(agent_id, 0.0) < ACTIVITY_THROTTLE_SECONDS:
        return
    ctx.last_activity[agent_id] = now
    async with ctx.db.write() as conn:
        await repo.touch_agent(conn, agent_id, now_utc())


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be a JSON object", field="metadata")
    if len(repr(metadata)) > MAX_METADATA_BYTES:
        raise InvalidInput("metadata must be smaller than 64 KB", field="metadata")
    return metadata


async def create_agent(
    ctx: AppContext,
    principal: Principal,
    *,
    name: str,
    role: str | None = None,
    metadata: dict[str, Any] | None = None,
    persistent: bool = False,
) -> tuple[AgentRecord, str]:
    """Create an agent with its mailbox; returns the record and its API key (shown once)."""
    principal.require_admin_or_owner()
    try:
        check_agent_name(name)
    except AddressError as exc:
        raise InvalidInput(str(exc), field="name") from exc
    if name.lower() in RESERVED_NAMES:  # system addresses (approval replies: approval_mail.py)
        raise InvalidInput(
            f'"{name}" is reserved for AgentPost itself; pick another name', field="name"
        )
    role = role or DEFAULT_ROLE
    if role not in ROLES:
        raise InvalidInput(f"role must be one of: {', '.join(ROLES)}", field="role")
    now = now_utc()
    key = new_key("ak_")
    record = AgentRecord(
        id=str(uuid.uuid4()),
        owner_id=principal.owner_id,
        name=name,
        address=f"{name.lower()}@{ctx.settings.domain}",
        role=role,
        metadata=_check_metadata(metadata),
        persistent=persistent,
        used_bytes=0,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    try:
        async with ctx.db.write() as conn:
            if await repo.agent_by_name(conn, name) is not None:
                raise AgentExists(f'an agent named "{name}" already exists')
            first = await repo.count_agents(conn) == 0
            if first and not persistent:
                record = replace(record, persistent=True)  # the first agent is never cleaned up
            await repo.insert_agent(conn, key_hash=ctx.keys.hash(key), record=record)
            validity = int(now.timestamp())
            for folder, special in SPECIAL_FOLDERS.items():
                await folder_repo.insert_folder(
                    conn,
                    agent_id=record.id,
                    name=folder,
                    special_use=special,
                    uid_validity=validity,
                    now=now,
                )
    except IntegrityError as exc:  # a concurrent create of the same name
        raise AgentExists(f'an agent named "{name}" already exists') from exc
    return record, key


async def list_agents(ctx: AppContext, principal: Principal) -> list[AgentRecord]:
    principal.require_admin_or_owner()
    owner = None if principal.kind is PrincipalKind.admin else principal.owner_id
    async with ctx.db.read() as conn:
        return await repo.list_agents(conn, owner)


async def directory(ctx: AppContext, principal: Principal) -> list[AgentRecord]:
    """Agents a caller may address: every agent of the same owner (admin: all)."""
    owner = None if principal.kind is PrincipalKind.admin else principal.owner_id
    async with ctx.db.read() as conn:
        return await repo.list_agents(conn, owner)


async def find_agent(ctx: AppContext, principal: Principal, name: str) -> AgentRecord:
    async with ctx.db.read() as conn:
        agent = await repo.agent_by_name(conn, name)
    visible = agent is not None and (
        principal.kind is PrincipalKind.admin or agent.owner_id == principal.owner_id
    )
    if agent is None or not visible:
        raise AgentNotFound(f'agent "{name}" not found; list_agents shows the agents you can reach')
    return agent


async def get_agent(ctx: AppContext, principal: Principal, agent_id: str) -> AgentRecord:
    principal.require_admin_or_owner()
    async with ctx.db.read() as conn:
        agent = await repo.agent_by_id(conn, agent_id)
    if agent is None or (
        principal.kind is not PrincipalKind.admin and agent.owner_id != principal.owner_id
    ):
        raise AgentNotFound(f"agent {agent_id} not found")
    return agent


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 §2: objects merge recursively, a null removes the key, anything else replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            current = merged.get(key)
            merged[key] = merge_patch(current if isinstance(current, dict) else {}, value)
        else:
            merged[key] = value
    return merged


async def update_metadata(
    ctx: AppContext, principal: Principal, patch: dict[str, Any]
) -> AgentRecord:
    """Merge ``patch`` into the agent's metadata (RFC 7386: a null value removes the key)."""
    agent = principal.require_agent()
    patch = _check_metadata(patch)
    async with ctx.db.write() as conn:
        current = await repo.agent_by_id(conn, agent.id)
        if current is None:
            raise AgentNotFound("this agent no longer exists")
        merged = merge_patch(current.metadata, patch)
        _check_metadata(merged)
        await repo.update_agent_metadata(conn, agent.id, merged, now_utc())
        updated = await repo.agent_by_id(conn, agent.id)
    forget_callers(ctx)  # after the commit: requests carry the agent's record, metadata included
    if updated is None:
        raise AgentNotFound("this agent no longer exists")
    return updated


# Deleting an agent lives in services/lifecycle.delete_agent only: it archives the mailbox,
# writes a deletion report and refuses while mail is still being delivered. A bare hard delete
# here would let a caller skip all three by accident.


async def create_owner(
    ctx: AppContext, principal: Principal, *, name: str, email: str | None = None
) -> tuple[OwnerRecord, str]:
    if principal.kind is not PrincipalKind.admin:
        raise Forbidden("only the master key can create owners", code="master_key_required")
    if not name.strip():
        raise InvalidInput("name is required", field="name")
    key = new_key("ok_")
    owner_id = str(uuid.uuid4())
    now = now_utc()
    async with ctx.db.write() as conn:
        await repo.insert_owner(
            conn,
            id=owner_id,
            name=name.strip(),
            email=email,
            key_hash=ctx.keys.hash(key),
            is_default=False,
            now=now,
        )
    return OwnerRecord(owner_id, name.strip(), email, False, now), key
