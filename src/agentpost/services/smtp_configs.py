"""SMTP configurations: an owner's outbound accounts, and what delivery and limits need of them.

Reads for other areas (they run inside the caller's transaction):

* ``endpoint_for(ctx, conn, config_id)``: the decrypted ``SmtpEndpoint`` of an *active*
  configuration, for the delivery worker; None when it is missing or inactive.
* ``default_config_id(conn, owner_id)``: the owner's default configuration, chosen as
  (1) the active configuration marked ``is_default``, else (2) the owner's only active
  configuration, else None (several active and none marked: the owner must choose).
* ``config_limits(conn, config_id)``: owner, active flag and daily cap, for the permissions
  area.

Management (owner or admin; an agent key is refused): create, list, show, update, delete and
test, each with its audit row (``config.created|updated|tested|deleted``) in the same
transaction. Passwords are sealed by the vault with the row id as associated data and never
leave this module except inside an ``SmtpEndpoint``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.provider_hints import ProbeResult
from agentpost.domain.transport import Security, SmtpEndpoint
from agentpost.errors import Forbidden, InvalidInput, SmtpConfigExists, SmtpConfigNotFound
from agentpost.services.accounts import Principal, PrincipalKind, now_utc
from agentpost.services.audit import AuditEntry, record
from agentpost.services.context import AppContext
from agentpost.services.smtp_config_fields import (
    CREATE_DEFAULTS,
    apply_preset,
    check_credentials,
    check_password,
    settle,
)
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import smtp_configs as repo
from agentpost.storage.repositories.smtp_configs import SmtpConfigRecord

Prober = Callable[[SmtpEndpoint], Awaitable[ProbeResult]]


@dataclass(frozen=True, slots=True)
class ConfigLimits:
    owner_id: str
    is_active: bool
    max_emails_per_day: int | None


def vault_context(config_id: str) -> str:
    """The associated data a configuration's password is sealed with (binds it to its row)."""
    return f"smtp_configs:{config_id}"


async def endpoint_for(
    ctx: AppContext, conn: AsyncConnection, config_id: str
) -> SmtpEndpoint | None:
    """The decrypted endpoint of an active configuration; None when missing or inactive.

    The result holds the plaintext password: never log, return or store it.
    """
    config = await repo.get_config(conn, config_id)
    if config is None or not config.is_active:
        return None
    return await _endpoint(ctx, conn, config)


async def _endpoint(
    ctx: AppContext, conn: AsyncConnection, config: SmtpConfigRecord
) -> SmtpEndpoint:
    password = None
    token = await repo.sealed_password(conn, config.id)
    if token is not None:
        password = ctx.vault.decrypt(token, context=vault_context(config.id))
    return SmtpEndpoint(
        host=config.host,
        port=config.port,
        security=Security(config.security),
        username=config.username,
        password=password,
        timeout=float(config.connection_timeout),
        verify_tls=config.verify_tls,
        config_id=config.id,
        owner_id=config.owner_id,
        from_email=config.from_email,
        from_name=config.from_name,
        reply_to=config.reply_to,
    )


async def default_config_id(conn: AsyncConnection, owner_id: str) -> str | None:
    """The active one marked default, else the only active one, else None."""
    active = await repo.active_ids(conn, owner_id)
    for config_id, is_default in active:
        if is_default:
            return config_id
    return active[0][0] if len(active) == 1 else None


async def config_limits(conn: AsyncConnection, config_id: str) -> ConfigLimits | None:
    row = await repo.limits_of(conn, config_id)
    if row is None:
        return None
    owner_id, is_active, cap = row
    return ConfigLimits(owner_id=owner_id, is_active=is_active, max_emails_per_day=cap)


# -- management -------------------------------------------------------------------------------


def _not_found(config_id: str) -> SmtpConfigNotFound:
    return SmtpConfigNotFound(
        f"SMTP configuration {config_id} not found; GET /smtp-configs lists yours"
    )


async def _owned(
    conn: AsyncConnection, principal: Principal, config_id: str, *, for_update: bool = False
) -> SmtpConfigRecord:
    """The configuration if the caller may see it; another owner's is simply not found."""
    principal.require_admin_or_owner()
    config = await repo.get_config(conn, config_id, for_update=for_update)
    if config is None or (
        principal.kind is not PrincipalKind.admin and config.owner_id != principal.owner_id
    ):
        raise _not_found(config_id)
    return config


async def _target_owner(conn: AsyncConnection, principal: Principal, owner_id: str | None) -> str:
    if owner_id is None or owner_id == principal.owner_id:
        return principal.owner_id
    if principal.kind is not PrincipalKind.admin:
        raise Forbidden(
            "an owner key creates configurations for its own owner only", code="owner_mismatch"
        )
    if owner_id not in {o.id for o in await account_repo.list_owners(conn)}:
        raise InvalidInput(f"owner {owner_id} does not exist", field="ownerId")
    return owner_id


def _name_exists(name: Any) -> SmtpConfigExists:
    return SmtpConfigExists(
        f'a configuration named "{name}" already exists; choose another connectionName',
        field="connectionName",
    )


async def _write_values(
    conn: AsyncConnection, config_id: str, owner_id: str, values: dict[str, Any]
) -> None:
    """Checks that need the database: the name is free, and one default per owner."""
    if await repo.name_taken(conn, owner_id, values["connection_name"], except_id=config_id):
        raise _name_exists(values["connection_name"])
    if values.get("is_default"):
        await repo.clear_default(conn, owner_id, except_id=config_id)


def _seal(ctx: AppContext, config_id: str, password: str | None) -> dict[str, Any]:
    if password is None:
        return {"password_ciphertext": None, "password_key_id": None}
    token = ctx.vault.encrypt(password, context=vault_context(config_id))
    return {"password_ciphertext": token, "password_key_id": ctx.vault.active_key_id}


async def create_config(
    ctx: AppContext, principal: Principal, fields: dict[str, Any], *, owner_id: str | None = None
) -> SmtpConfigRecord:
    """Validate, seal the password and store a new configuration (audited)."""
    principal.require_admin_or_owner()
    changes = dict(fields)
    apply_preset(changes)
    password = check_password(changes.pop("password", None))
    values = settle(CREATE_DEFAULTS, changes)
    check_credentials(values["username"], password is not None)
    config_id, now = str(uuid.uuid4()), now_utc()
    try:
        async with ctx.db.write() as conn:
            owner = await _target_owner(conn, principal, owner_id)
            await _write_values(conn, config_id, owner, values)
            row = {**values, **_seal(ctx, config_id, password)}
            await repo.insert_config(
                conn,
                {**row, "id": config_id, "owner_id": owner, "created_at": now, "updated_at": now},
            )
            detail = {k: values[k] for k in ("connection_name", "host", "port", "security")}
            await record(
                ctx,
                conn,
                AuditEntry("config.created", owner_id=owner, config_id=config_id, detail=detail),
            )
            created = await repo.get_config(conn, config_id)
    except IntegrityError as exc:  # a concurrent create of the same name
        raise _name_exists(values["connection_name"]) from exc
    if created is None:
        raise _not_found(config_id)
    return created


async def list_configs(ctx: AppContext, principal: Principal) -> list[SmtpConfigRecord]:
    """The caller's configurations (the admin sees every owner's)."""
    principal.require_admin_or_owner()
    owner = None if principal.kind is PrincipalKind.admin else principal.owner_id
    async with ctx.db.read() as conn:
        return await repo.list_configs(conn, owner)


async def get_config(ctx: AppContext, principal: Principal, config_id: str) -> SmtpConfigRecord:
    async with ctx.db.read() as conn:
        return await _owned(conn, principal, config_id)


def _current_fields(config: SmtpConfigRecord) -> dict[str, Any]:
    return {
        name: getattr(config, name)
        for name in (
            "connection_name",
            "host",
            "port",
            "security",
            "username",
            "from_email",
            "from_name",
            "reply_to",
            "connection_timeout",
            "max_emails_per_day",
            "is_active",
            "is_default",
            "allow_insecure",
            "verify_tls",
        )
    }


async def update_config(
    ctx: AppContext, principal: Principal, config_id: str, fields: dict[str, Any]
) -> SmtpConfigRecord:
    """Apply a partial update (a null clears an optional field); audited with the changed
    field names, never their values."""
    changes = dict(fields)
    apply_preset(changes)
    new_password = "password" in changes
    password = check_password(changes.pop("password", None))
    try:
        async with ctx.db.write() as conn:
            config = await _owned(conn, principal, config_id, for_update=True)
            current = _current_fields(config)
            values = settle(current, changes)
            has_password = password is not None if new_password else config.has_password
            check_credentials(values["username"], has_password)
            _check_redirect(config, values, new_password)
            await _write_values(conn, config_id, config.owner_id, values)
            changed = sorted(k for k, v in values.items() if current[k] != v)
            row = {k: values[k] for k in changed}
            if new_password:
                row.update(_seal(ctx, config_id, password))
                changed = sorted([*changed, "password"])
            if row:
                await repo.update_config(conn, config_id, {**row, "updated_at": now_utc()})
                entry = AuditEntry(
                    "config.updated",
                    owner_id=config.owner_id,
                    config_id=config_id,
                    detail={"changed": changed},
                )
                await record(ctx, conn, entry)
            updated = await repo.get_config(conn, config_id)
    except IntegrityError as exc:
        raise _name_exists(fields.get("connection_name")) from exc
    if updated is None:
        raise _not_found(config_id)
    return updated


def _check_redirect(config: SmtpConfigRecord, values: dict[str, Any], new_password: bool) -> None:
    """A stored password only ever goes to the server it was entered for: pointing the
    configuration elsewhere (host, port or a plain-text connection) needs it again, so a
    leaked owner key cannot redirect the credentials to a server of its choosing."""
    moved = (values["host"].lower(), values["port"]) != (config.host.lower(), config.port)
    downgraded = values["security"] == Security.NONE and config.security != Security.NONE
    if config.has_password and not new_password and (moved or downgraded):
        raise InvalidInput(
            "give the password again when changing host, port or security to none: a stored "
            "password is only sent to the server it was entered for",
            field="password",
        )


async def delete_config(ctx: AppContext, principal: Principal, config_id: str) -> SmtpConfigRecord:
    """Delete a configuration and its sealed password (audited). Mail already queued through
    it fails at delivery with a clear reason (endpoint_for answers None)."""
    async with ctx.db.write() as conn:
        config = await _owned(conn, principal, config_id, for_update=True)
        await repo.delete_config(conn, config_id)
        detail = {"connection_name": config.connection_name}
        entry = AuditEntry(
            "config.deleted", owner_id=config.owner_id, config_id=config_id, detail=detail
        )
        await record(ctx, conn, entry)
    return config


async def probe_config(
    ctx: AppContext, principal: Principal, config_id: str, probe: Prober
) -> tuple[SmtpConfigRecord, ProbeResult]:
    """Run the connection test (no mail is sent) and store and audit its outcome.

    The probe runs outside any transaction: a slow server must not hold the database."""
    async with ctx.db.read() as conn:
        config = await _owned(conn, principal, config_id)
        endpoint = await _endpoint(ctx, conn, config)
    result = await probe(endpoint)
    async with ctx.db.write() as conn:
        if await repo.get_config(conn, config_id) is not None:
            await repo.update_config(
                conn, config_id, {"last_tested_at": now_utc(), "last_test_ok": result.ok}
            )
        await record(ctx, conn, _test_entry(config, result))
        updated = await repo.get_config(conn, config_id)
    return updated or config, result


def _test_entry(config: SmtpConfigRecord, result: ProbeResult) -> AuditEntry:
    detail: dict[str, Any] = {"stage": result.stage.value, "host": result.host, "port": result.port}
    if result.code is not None:
        detail["code"] = result.code
    if result.failure is not None:
        detail["failure"] = result.failure.value
    return AuditEntry(
        "config.tested",
        status="ok" if result.ok else "failed",
        owner_id=config.owner_id,
        config_id=config.id,
        error=None if result.ok else result.verdict,
        duration_ms=result.duration_ms,
        detail=detail,
    )
