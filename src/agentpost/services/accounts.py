"""Accounts: the master key, owners and agents, and turning a bearer key into a principal.

Keys are shown once, at creation or rotation, and stored only as keyed hashes; creating and
rotating one is an audit row (``key.created``, ``key.rotated``) that never holds the key.
Single-user installs never see owners: a default owner exists and the master key acts for it.
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
        owner_id = await _ensure_default_owner(conn)
        await _settle_domain(ctx, conn)
        stored = await repo.get_state(conn, MASTER_HASH_KEY)
        if configured is not None:
            digest = ctx.keys.hash(configured.get_secret_value())
            if digest != stored:  # set for the first time, or changed: the old one is void
                await repo.set_state(conn, MASTER_HASH_KEY, digest)
                operation = "key.created" if stored is None else "key.rotated"
                detail = {"kind": "master", "by": "settings"}
                await _record_key_event(ctx, conn, operation, owner_id=owner_id, detail=detail)
            return None
        if stored is not None:
            return None
        key = new_key("mk_")
        await repo.set_state(conn, MASTER_HASH_KEY, ctx.keys.hash(key))
        detail = {"kind": "master", "by": "bootstrap"}
        await _record_key_event(ctx, conn, "key.created", owner_id=owner_id, detail=detail)
        return key


async def _ensure_default_owner(conn: AsyncConnection) -> str:
    """The default owner's id, creating that owner on the first start."""
    owner = await repo.default_owner(conn)
    if owner is not None:
        return owner.id
    owner_id = str(uuid.uuid4())
    await repo.insert_owner(
        conn,
        id=owner_id,
        name="default",
        email=None,
        key_hash=None,
        is_default=True,
        now=now_utc(),
    )
    return owner_id


async def _record_key_event(
    ctx: AppContext,
    conn: AsyncConnection,
    operation: str,
    *,
    owner_id: str,
    detail: dict[str, str],
    agent_id: str | None = None,
) -> None:
    """One audit row (``key.created``, ``key.rotated``) in the caller's transaction, saying
    whose key it is: never the key nor its hash, as rows are shown to owners and exported."""
    # services/audit imports this module (for Principal): imported late to break the cycle.
    from agentpost.services.audit import AuditEntry, record

    entry = AuditEntry(operation, owner_id=owner_id, agent_id=agent_id, detail=detail)
    await record(ctx, conn, entry)


def _agent_key_detail(agent: AgentRecord, principal: Principal) -> dict[str, str]:
    return {"kind": "agent", "agent": agent.name, "by": principal.kind.value}


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
            await _insert_special_folders(conn, record.id, now)
            # Last, as in every writer: the audit chain's lock comes after rows (send_locks.py).
            await _record_key_event(
                ctx,
                conn,
                "key.created",
                owner_id=record.owner_id,
                agent_id=record.id,
                detail=_agent_key_detail(record, principal),
            )
    except IntegrityError as exc:  # a concurrent create of the same name
        raise AgentExists(f'an agent named "{name}" already exists') from exc
    return record, key


async def _insert_special_folders(conn: AsyncConnection, agent_id: str, now: datetime) -> None:
    validity = int(now.timestamp())
    for folder, special in SPECIAL_FOLDERS.items():
        await folder_repo.insert_folder(
            conn,
            agent_id=agent_id,
            name=folder,
            special_use=special,
            uid_validity=validity,
            now=now,
        )


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
        detail = {"kind": "owner", "owner": name.strip(), "by": principal.kind.value}
        await _record_key_event(ctx, conn, "key.created", owner_id=owner_id, detail=detail)
    return OwnerRecord(owner_id, name.strip(), email, False, now), key


# -- rotating keys ----------------------------------------------------------------------------
# A leaked key is revoked by giving its holder a new one: the agent keeps its mailbox, the
# owner its agents. The new key is shown once; the old one fails from the commit on, in every
# process (forget_callers), even if it was used a moment before and its caller is cached.


async def find_managed_agent(ctx: AppContext, principal: Principal, name_or_id: str) -> AgentRecord:
    """An agent the caller manages (the admin: any; an owner: its own), by name, then by id.
    Not found, the error names what was given: a name unless it has the shape of an id."""
    principal.require_admin_or_owner()
    try:
        return await find_agent(ctx, principal, name_or_id)
    except AgentNotFound:
        if not _is_uuid(name_or_id):
            raise
    return await get_agent(ctx, principal, name_or_id)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def rotate_agent_key(
    ctx: AppContext, principal: Principal, name_or_id: str
) -> tuple[AgentRecord, str]:
    """Give an agent a new API key; returns the agent and the key (shown once)."""
    agent = await find_managed_agent(ctx, principal, name_or_id)
    key, now = new_key("ak_"), now_utc()
    async with ctx.db.write() as conn:
        if not await repo.set_agent_key_hash(conn, agent.id, ctx.keys.hash(key), now):
            raise AgentNotFound(f'agent "{agent.name}" no longer exists')
        await _record_key_event(
            ctx,
            conn,
            "key.rotated",
            owner_id=agent.owner_id,
            agent_id=agent.id,
            detail=_agent_key_detail(agent, principal),
        )
    forget_callers(ctx)  # after the commit, or a request in between could cache the old key
    return replace(agent, updated_at=now), key


async def rotate_owner_key(
    ctx: AppContext, principal: Principal, owner_id: str
) -> tuple[OwnerRecord, str]:
    """Give an owner a new owner key (the admin: any owner; an owner: itself); returns the
    owner and the key (shown once)."""
    principal.require_admin_or_owner()
    if principal.kind is not PrincipalKind.admin and owner_id != principal.owner_id:
        raise _owner_not_found(owner_id)  # like agents: another owner's is not even named
    key = new_key("ok_")
    async with ctx.db.write() as conn:
        owner = await repo.owner_by_id(conn, owner_id)
        if owner is None:
            raise _owner_not_found(owner_id)
        if owner.is_default:
            raise Conflict(
                "the default owner has no owner key: the master key acts for it "
                "(set AGENTPOST_MASTER_KEY to replace that)",
                code="default_owner_keyless",
            )
        await repo.set_owner_key_hash(conn, owner.id, ctx.keys.hash(key))
        detail = {"kind": "owner", "owner": owner.name, "by": principal.kind.value}
        await _record_key_event(ctx, conn, "key.rotated", owner_id=owner.id, detail=detail)
    forget_callers(ctx)  # after the commit, or a request in between could cache the old key
    return owner, key


def _owner_not_found(owner_id: str) -> NotFound:
    return NotFound(
        f"owner {owner_id} not found; `agentpost owner list` shows the owners",
        code="owner_not_found",
    )
