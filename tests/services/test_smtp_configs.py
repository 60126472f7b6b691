"""SMTP configuration services on SQLite and PostgreSQL: sealing at rest, the reads the delivery
and permissions areas use, the default rule, vault rotation over stored rows, and audit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from agentpost.errors import Forbidden, SmtpConfigNotFound
from agentpost.services import accounts, smtp_configs
from agentpost.services.audit import list_audit, verify_chain
from agentpost.services.context import AppContext
from agentpost.services.vault_rotation import rotate_vault
from agentpost.storage.repositories.audit import AuditFilter
from agentpost.storage.tables.audit import audit_log
from agentpost.storage.tables.smtp import smtp_configs as table
from agentpost.testing.factories import admin_principal, make_agent

pytestmark = pytest.mark.anyio
PASSWORD = "svc-S3cret-pw"


def fields(name: str = "main", **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "connection_name": name,
        "preset": "gmail",
        "username": "owner@example.com",
        "password": PASSWORD,
    }
    values.update(extra)
    return values


async def test_password_is_sealed_at_rest_and_endpoint_opens_it(any_ctx: AppContext) -> None:
    admin = await admin_principal(any_ctx)
    config = await smtp_configs.create_config(any_ctx, admin, fields(max_emails_per_day=50))
    async with any_ctx.db.read() as conn:
        row = (await conn.execute(select(table).where(table.c.id == config.id))).mappings().one()
        endpoint = await smtp_configs.endpoint_for(any_ctx, conn, config.id)
        limits = await smtp_configs.config_limits(conn, config.id)
        assert await smtp_configs.endpoint_for(any_ctx, conn, "missing") is None
        assert await smtp_configs.config_limits(conn, "missing") is None
    assert PASSWORD not in str(dict(row))
    assert row["password_key_id"] == any_ctx.vault.active_key_id
    assert endpoint is not None and endpoint.password == PASSWORD
    assert (endpoint.host, endpoint.port, endpoint.security.value) == (
        "smtp.gmail.com",
        587,
        "starttls",
    )
    assert endpoint.config_id == config.id and endpoint.owner_id == config.owner_id
    assert PASSWORD not in repr(endpoint)
    assert limits == smtp_configs.ConfigLimits(config.owner_id, True, 50)


async def test_inactive_config_has_no_endpoint(any_ctx: AppContext) -> None:
    admin = await admin_principal(any_ctx)
    config = await smtp_configs.create_config(any_ctx, admin, fields(is_active=False))
    async with any_ctx.db.read() as conn:
        assert await smtp_configs.endpoint_for(any_ctx, conn, config.id) is None
        limits = await smtp_configs.config_limits(conn, config.id)
    assert limits is not None and limits.is_active is False


async def test_default_config_rule(any_ctx: AppContext) -> None:
    admin = await admin_principal(any_ctx)
    owner = admin.owner_id

    async def default() -> str | None:
        async with any_ctx.db.read() as conn:
            return await smtp_configs.default_config_id(conn, owner)

    assert await default() is None
    one = await smtp_configs.create_config(any_ctx, admin, fields("one"))
    assert await default() == one.id  # the only active one
    two = await smtp_configs.create_config(any_ctx, admin, fields("two"))
    assert await default() is None  # two active, none marked: the owner must choose
    await smtp_configs.update_config(any_ctx, admin, two.id, {"is_default": True})
    assert await default() == two.id
    await smtp_configs.update_config(any_ctx, admin, one.id, {"is_default": True})
    assert await default() == one.id  # one default per owner
    await smtp_configs.update_config(any_ctx, admin, one.id, {"is_default": True})
    assert await default() == one.id  # marking the default again keeps it
    assert not (await smtp_configs.get_config(any_ctx, admin, two.id)).is_default
    await smtp_configs.update_config(any_ctx, admin, one.id, {"is_active": False})
    assert await default() == two.id  # the only active one again


async def test_agents_and_other_owners_are_kept_out(any_ctx: AppContext) -> None:
    admin = await admin_principal(any_ctx)
    config = await smtp_configs.create_config(any_ctx, admin, fields())
    _agent, key = await make_agent(any_ctx, "alice")
    as_agent = await accounts.authenticate(any_ctx, key)
    with pytest.raises(Forbidden):
        await smtp_configs.list_configs(any_ctx, as_agent)
    _owner, owner_key = await accounts.create_owner(any_ctx, admin, name="Other")
    other = await accounts.authenticate(any_ctx, owner_key)
    with pytest.raises(SmtpConfigNotFound):
        await smtp_configs.get_config(any_ctx, other, config.id)
    assert await smtp_configs.list_configs(any_ctx, other) == []


async def test_rotation_reseals_every_row_and_retires_the_old_key(any_ctx: AppContext) -> None:
    admin = await admin_principal(any_ctx)
    ids = [(await smtp_configs.create_config(any_ctx, admin, fields(f"c{i}"))).id for i in range(3)]
    old_key = any_ctx.vault.active_key_id
    report = await rotate_vault(any_ctx)
    assert report.new_key_id != old_key
    assert report.resealed["smtp_configs"] == 3
    assert report.retired_key_ids == [old_key]
    assert any_ctx.vault.key_ids() == [report.new_key_id]
    async with any_ctx.db.read() as conn:
        keys = set((await conn.execute(select(table.c.password_key_id))).scalars())
        for config_id in ids:
            endpoint = await smtp_configs.endpoint_for(any_ctx, conn, config_id)
            assert endpoint is not None and endpoint.password == PASSWORD
    assert keys == {report.new_key_id}
    page = await list_audit(any_ctx, admin, AuditFilter(operation="vault.rotated"))
    assert page.total == 1 and PASSWORD not in str(page.entries[0])


async def test_audit_chain_detects_an_edited_and_a_deleted_row(any_ctx: AppContext) -> None:
    admin = await admin_principal(any_ctx)
    for i in range(3):  # row 1 is the master key's key.created, written at bootstrap
        await smtp_configs.create_config(any_ctx, admin, fields(f"c{i}"))
    report = await verify_chain(any_ctx, admin)
    assert report.ok and report.checked == 4 and report.head_seq == 4
    async with any_ctx.db.write() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(status="failed"))
    edited = await verify_chain(any_ctx, admin)
    assert not edited.ok and edited.broken_seq == 2 and "edited" in (edited.reason or "")
    assert edited.checked == 1
    async with any_ctx.db.write() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(status="ok"))
    assert (await verify_chain(any_ctx, admin)).ok
    async with any_ctx.db.write() as conn:
        await conn.execute(audit_log.delete().where(audit_log.c.seq == 3))
    deleted = await verify_chain(any_ctx, admin)
    assert not deleted.ok and deleted.broken_seq == 4 and "missing" in (deleted.reason or "")
