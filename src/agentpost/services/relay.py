"""The relay gateway: connecting an owner's existing mail account, and its status.

An owner (or the master key, for the default owner) connects one Gmail, Outlook or custom
account. Both sides are checked before anything is saved: an IMAP login that opens the mailbox
to watch, and an SMTP login. The SMTP side becomes an ordinary SMTP configuration (so
permissions, limits, the queue and the audit log treat it like any other); the IMAP side is a
``relay_accounts`` row. The password is sealed by the vault for both, and never leaves here.

Fetching starts at the mailbox's next UID as seen during setup: mail that arrives after the
account is connected is imported; older mail stays reachable through the relay search and a
manual import (services/relay_search.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import normalize
from agentpost.domain.relay import PROVIDER_HINTS, Provider
from agentpost.domain.transport import Security, SmtpEndpoint
from agentpost.errors import (
    AgentPostError,
    Forbidden,
    RelayCheckFailed,
    RelayNotConfigured,
)
from agentpost.relay.imap import ImapEndpoint, ImapFailure, MailboxState, open_session
from agentpost.relay.smtp_check import SmtpCheckFailure, check_login
from agentpost.services import accounts, audit
from agentpost.services.accounts import Principal, now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.relay_plan import CHECK_TIMEOUT, RelaySetup, plan
from agentpost.services.smtp_configs import vault_context as smtp_vault_context
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import relay as repo
from agentpost.storage.repositories import smtp_configs as smtp_repo
from agentpost.storage.repositories.relay import RelayAccountRecord

DEFAULT_AGENT = "secretary"
_FAILURE_CODES = {
    "auth": "relay_login_failed",
    "connect": "relay_unreachable",
    "tls": "relay_tls_failed",
    "protocol": "relay_check_failed",
}


@dataclass(frozen=True, slots=True)
class RelaySetupResult:
    account: RelayAccountRecord
    agent: AgentRecord | None
    api_key: str | None  # only when the default agent was created by this call


def imap_vault_context(account_id: str) -> str:
    return f"relay_accounts:{account_id}"


def check_failed(
    side: str, kind: str, message: str, provider: str, hint: str | None = None
) -> RelayCheckFailed:
    if hint is None and kind == "auth":
        hint = PROVIDER_HINTS.get(Provider(provider))
    text = f"{side} check failed: {message}" + (f". {hint}" if hint else "")
    return RelayCheckFailed(text, code=_FAILURE_CODES.get(kind, "relay_check_failed"))


def _imap_check(endpoint: ImapEndpoint, mailbox: str) -> MailboxState:
    session = open_session(endpoint)
    try:
        return session.select(mailbox)
    finally:
        session.close()


async def verify(setup: RelaySetup) -> tuple[SmtpEndpoint, ImapEndpoint, MailboxState]:
    """Both sides must accept the credentials before anything is stored."""
    smtp, imap = plan(setup)
    try:
        state = await asyncio.to_thread(_imap_check, imap, setup.mailbox)
    except ImapFailure as exc:
        raise check_failed("IMAP", exc.kind, exc.message, setup.provider) from None
    try:
        await check_login(smtp)
    except SmtpCheckFailure as exc:
        raise check_failed("SMTP", exc.kind, exc.message, setup.provider, exc.hint) from None
    return smtp, imap, state


async def _default_agent(
    ctx: AppContext, principal: Principal, setup: RelaySetup
) -> tuple[AgentRecord | None, str | None]:
    if setup.skip_default_agent:
        return None, None
    name = setup.agent_name or DEFAULT_AGENT
    async with ctx.db.read() as conn:
        existing = await account_repo.agent_by_name(conn, name)
    if existing is not None:
        if existing.owner_id != principal.owner_id:
            raise Forbidden(f'the agent "{name}" belongs to another owner; choose another name')
        return existing, None
    return await accounts.create_agent(
        ctx, principal, name=name, role=setup.agent_role, metadata={"gateway": "relay"}
    )


async def setup_relay(ctx: AppContext, principal: Principal, setup: RelaySetup) -> RelaySetupResult:
    """Check, then save (or replace) the owner's relay account and its SMTP configuration."""
    principal.require_admin_or_owner()
    started = time.monotonic()
    smtp, imap, state = await verify(setup)
    agent, api_key = await _default_agent(ctx, principal, setup)
    async with ctx.db.write() as conn:
        existing = await repo.account_by_owner(conn, principal.owner_id)
        account_id = existing.id if existing else str(uuid.uuid4())
        config_id = await _save_smtp_config(ctx, conn, principal.owner_id, existing, smtp)
        values = _account_values(ctx, account_id, setup, imap, state, existing)
        values.update(smtp_config_id=config_id, default_agent_id=agent.id if agent else None)
        if existing is None:
            await repo.insert_account(
                conn, values | {"id": account_id, "owner_id": principal.owner_id}
            )
        else:
            await repo.update_account(conn, account_id, **values)
        await audit.record(
            ctx,
            conn,
            AuditEntry(
                "relay.updated" if existing else "relay.created",
                owner_id=principal.owner_id,
                agent_id=agent.id if agent else None,
                config_id=config_id,
                duration_ms=int((time.monotonic() - started) * 1000),
                detail={"provider": setup.provider, "email": smtp.from_email},
            ),
        )
        account = await repo.account_by_id(conn, account_id)
    assert account is not None  # written in this transaction
    return RelaySetupResult(account=account, agent=agent, api_key=api_key)


def _account_values(
    ctx: AppContext,
    account_id: str,
    setup: RelaySetup,
    imap: ImapEndpoint,
    state: MailboxState,
    existing: RelayAccountRecord | None,
) -> dict[str, Any]:
    now = now_utc()
    token = ctx.vault.encrypt(imap.password, context=imap_vault_context(account_id))
    same_mailbox = (
        existing is not None
        and existing.imap_host == imap.host
        and existing.imap_username == imap.username
        and existing.mailbox == setup.mailbox
        and existing.uid_validity == state.uid_validity
    )
    values: dict[str, Any] = {
        "provider": setup.provider,
        "email": normalize(setup.email),
        "imap_host": imap.host,
        "imap_port": imap.port,
        "imap_security": imap.security.value,
        "imap_username": imap.username,
        "imap_password": token,
        "imap_password_key_id": token.partition(":")[0],
        "mailbox": setup.mailbox,
        "status": "active",
        "last_error": None,
        "updated_at": now,
    }
    if not same_mailbox:  # a new mailbox: start with the mail that arrives from now on
        values |= {"uid_validity": state.uid_validity, "last_seen_uid": max(state.uid_next - 1, 0)}
    if existing is None:
        values |= {"created_at": now, "imported_count": 0}
    return values


def _smtp_values(ctx: AppContext, config_id: str, smtp: SmtpEndpoint) -> dict[str, Any]:
    """The configuration's columns; the password sealed for this row (vault context)."""
    assert smtp.password is not None  # plan() requires one
    token = ctx.vault.encrypt(smtp.password, context=smtp_vault_context(config_id))
    now = now_utc()
    return {
        "host": smtp.host,
        "port": smtp.port,
        "security": smtp.security.value,
        "username": smtp.username,
        "password_ciphertext": token,
        "password_key_id": token.partition(":")[0],
        "from_email": smtp.from_email,
        "is_active": True,
        "allow_insecure": smtp.security is Security.NONE,
        "updated_at": now,
        "last_tested_at": now,
        "last_test_ok": True,
    }


async def _save_smtp_config(
    ctx: AppContext,
    conn: AsyncConnection,
    owner_id: str,
    existing: RelayAccountRecord | None,
    smtp: SmtpEndpoint,
) -> str:
    """Insert or update the relay's SMTP configuration, named ``relay <email>``."""
    config_id = existing.smtp_config_id if existing and existing.smtp_config_id else None
    if config_id is not None and await smtp_repo.get_config(conn, config_id) is not None:
        await smtp_repo.update_config(conn, config_id, _smtp_values(ctx, config_id, smtp))
        return config_id
    config_id = str(uuid.uuid4())  # new, or the owner deleted the old one meanwhile
    name = f"relay {smtp.from_email}"[:100]
    if await smtp_repo.name_taken(conn, owner_id, name):
        name = f"{name[:91]} {config_id[:8]}"
    values = _smtp_values(ctx, config_id, smtp) | {
        "id": config_id,
        "owner_id": owner_id,
        "connection_name": name,
        "connection_timeout": int(CHECK_TIMEOUT),
        "is_default": False,
        "verify_tls": True,
        "created_at": now_utc(),
    }
    await smtp_repo.insert_config(conn, values)
    return config_id


async def get_account(ctx: AppContext, owner_id: str) -> RelayAccountRecord:
    async with ctx.db.read() as conn:
        account = await repo.account_by_owner(conn, owner_id)
    if account is None:
        raise RelayNotConfigured(
            "no relay account is connected: set one up with setup_email_relay "
            "(POST /gateway/relay) first"
        )
    return account


def imap_endpoint(ctx: AppContext, account: RelayAccountRecord) -> ImapEndpoint:
    """The account's IMAP endpoint with the password opened. Never log or return it."""
    password = ctx.vault.decrypt(account.imap_password, context=imap_vault_context(account.id))
    return ImapEndpoint(
        host=account.imap_host,
        port=account.imap_port,
        security=Security(account.imap_security),
        username=account.imap_username,
        password=password,
        timeout=CHECK_TIMEOUT,
    )


async def remove_relay(ctx: AppContext, principal: Principal) -> RelayAccountRecord:
    """Disconnect the relay account; its SMTP configuration is deactivated, not deleted, so
    the delivery rows that name it still explain themselves."""
    principal.require_admin_or_owner()
    async with ctx.db.write() as conn:
        account = await repo.account_by_owner(conn, principal.owner_id)
        if account is None:
            raise RelayNotConfigured("no relay account is connected")
        await repo.delete_account(conn, account.id)
        if account.smtp_config_id:
            await smtp_repo.update_config(
                conn, account.smtp_config_id, {"is_active": False, "updated_at": now_utc()}
            )
        await audit.record(
            ctx,
            conn,
            AuditEntry(
                "relay.deleted", owner_id=account.owner_id, config_id=account.smtp_config_id
            ),
        )
    return account


async def record_sync(
    ctx: AppContext, account_id: str, *, error: AgentPostError | str | None, at: datetime
) -> None:
    """Remember the outcome of a sync for check_gateway_status."""
    message = error.message if isinstance(error, AgentPostError) else error
    async with ctx.db.write() as conn:
        values: dict[str, Any] = {"status": "error" if message else "active", "last_error": message}
        if not message:
            values["last_sync_at"] = at
        await repo.update_account(conn, account_id, **values)
