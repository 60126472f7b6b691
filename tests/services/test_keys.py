"""Rotating agents' and owners' keys on SQLite and PostgreSQL, and the audit rows of keys:
the old key fails at once (in every process), the new one is the same caller, and no audit row
holds a key or its hash."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from agentpost.config import Settings
from agentpost.errors import AgentNotFound, Conflict, Forbidden, NotFound, Unauthenticated
from agentpost.services import accounts, mailbox
from agentpost.services.accounts import PrincipalKind
from agentpost.services.audit import list_audit, verify_chain
from agentpost.services.context import AppContext, build_context
from agentpost.services.ttl_cache import TtlCache
from agentpost.storage.repositories.audit import AuditFilter
from agentpost.storage.tables.audit import audit_log

from .support import admin, agent, send
from .two_processes import DIALECTS, two_contexts

pytestmark = pytest.mark.anyio


async def audit_text(ctx: AppContext) -> str:
    """Every stored audit row, every column, as one text to search for secrets."""
    async with ctx.db.read() as conn:
        rows = (await conn.execute(select(audit_log))).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


async def key_rows(
    ctx: AppContext,
) -> list[tuple[str, str | None, str | None, str, dict[str, Any]]]:
    """(operation, owner, agent, status, detail) of each key row, oldest first."""
    page = await list_audit(ctx, await admin(ctx), AuditFilter(operation="key."), limit=100)
    rows = reversed(page.entries)
    return [(r.operation, r.owner_id, r.agent_id, r.status, r.detail) for r in rows]


async def test_rotating_an_agent_key_retires_the_old_key_at_once(any_ctx: AppContext) -> None:
    """The old key fails on the very next call although its caller was just kept; the new key
    is the same agent, with its mailbox."""
    root = await admin(any_ctx)
    alice, old = await accounts.create_agent(any_ctx, root, name="alice")
    bob = await agent(any_ctx, "bob")
    await send(any_ctx, bob, "alice@localhost")
    cached = await accounts.authenticate(any_ctx, old)  # now kept for 2 s
    assert cached.agent is not None and cached.agent.id == alice.id
    rotated, new = await accounts.rotate_agent_key(any_ctx, root, "ALICE")
    assert new.startswith("ak_") and len(new) == 51 and new != old
    assert rotated.id == alice.id and rotated.address == alice.address
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(any_ctx, old)
    caller = await accounts.authenticate(any_ctx, new)
    assert caller.kind is PrincipalKind.agent and caller.agent is not None
    assert caller.agent.id == alice.id
    inbox = await mailbox.list_folder(any_ctx, caller.agent, "INBOX", limit=10, offset=0)
    assert inbox.total == 1
    # By id too; each rotation retires the key before it.
    _again, newest = await accounts.rotate_agent_key(any_ctx, root, alice.id)
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(any_ctx, new)
    assert (await accounts.authenticate(any_ctx, newest)).agent is not None


async def test_only_the_admin_or_the_agents_owner_rotates_an_agent_key(
    any_ctx: AppContext,
) -> None:
    root = await admin(any_ctx)
    _, key_a = await accounts.create_owner(any_ctx, root, name="A")
    _, key_b = await accounts.create_owner(any_ctx, root, name="B")
    owner_a = await accounts.authenticate(any_ctx, key_a)
    owner_b = await accounts.authenticate(any_ctx, key_b)
    bot, bot_key = await accounts.create_agent(any_ctx, owner_a, name="bot-a")
    as_bot = await accounts.authenticate(any_ctx, bot_key)
    with pytest.raises(AgentNotFound):
        await accounts.rotate_agent_key(any_ctx, owner_b, "bot-a")
    with pytest.raises(AgentNotFound):
        await accounts.rotate_agent_key(any_ctx, owner_b, bot.id)
    with pytest.raises(Forbidden) as refused:
        await accounts.rotate_agent_key(any_ctx, as_bot, "bot-a")
    assert refused.value.code == "owner_key_required"
    with pytest.raises(AgentNotFound):
        await accounts.rotate_agent_key(any_ctx, root, "nobody")
    # Nothing changed: the key still works, and no rotation was recorded.
    assert (await accounts.authenticate(any_ctx, bot_key)).agent == bot
    assert [row[0] for row in await key_rows(any_ctx) if row[0] == "key.rotated"] == []
    _, new = await accounts.rotate_agent_key(any_ctx, owner_a, "bot-a")
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(any_ctx, bot_key)
    assert (await accounts.authenticate(any_ctx, new)).owner_id == owner_a.owner_id


async def test_rotating_an_owner_key(any_ctx: AppContext) -> None:
    """The admin rotates any owner's key, an owner only its own; the default owner has none."""
    root = await admin(any_ctx)
    dana, first = await accounts.create_owner(any_ctx, root, name="Dana")
    erin, erin_key = await accounts.create_owner(any_ctx, root, name="Erin")
    as_dana = await accounts.authenticate(any_ctx, first)  # kept for 2 s
    bot, bot_key = await accounts.create_agent(any_ctx, as_dana, name="dana-bot")
    rotated, second = await accounts.rotate_owner_key(any_ctx, root, dana.id)
    assert rotated == dana and second.startswith("ok_") and second != first
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(any_ctx, first)
    as_dana = await accounts.authenticate(any_ctx, second)
    assert (as_dana.kind, as_dana.owner_id) == (PrincipalKind.owner, dana.id)
    assert [a.id for a in await accounts.list_agents(any_ctx, as_dana)] == [bot.id]
    assert (await accounts.authenticate(any_ctx, bot_key)).agent == bot  # agents keep theirs

    _, third = await accounts.rotate_owner_key(any_ctx, as_dana, dana.id)
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(any_ctx, second)
    as_dana = await accounts.authenticate(any_ctx, third)
    with pytest.raises(NotFound) as other:
        await accounts.rotate_owner_key(any_ctx, as_dana, erin.id)
    assert other.value.code == "owner_not_found"
    assert (await accounts.authenticate(any_ctx, erin_key)).owner_id == erin.id
    with pytest.raises(Forbidden) as by_agent:
        await accounts.rotate_owner_key(
            any_ctx, await accounts.authenticate(any_ctx, bot_key), dana.id
        )
    assert by_agent.value.code == "owner_key_required"
    with pytest.raises(Conflict) as default:
        await accounts.rotate_owner_key(any_ctx, root, root.owner_id)
    assert default.value.code == "default_owner_keyless"
    with pytest.raises(NotFound) as unknown:
        await accounts.rotate_owner_key(any_ctx, root, str(uuid.uuid4()))
    assert unknown.value.code == "owner_not_found"
    assert (await accounts.authenticate(any_ctx, third)).owner_id == dana.id


async def test_key_audit_rows_say_whose_key_and_never_hold_it(any_ctx: AppContext) -> None:
    """Creating and rotating keys are audit rows naming the agent or owner; no row holds a
    key or its hash."""
    root = await admin(any_ctx)
    owner, owner_key = await accounts.create_owner(any_ctx, root, name="Dana")
    as_owner = await accounts.authenticate(any_ctx, owner_key)
    bot, bot_key = await accounts.create_agent(any_ctx, as_owner, name="dana-bot")
    _, new_bot_key = await accounts.rotate_agent_key(any_ctx, as_owner, "dana-bot")
    _, new_owner_key = await accounts.rotate_owner_key(any_ctx, root, owner.id)
    by = {"by": "owner"}
    assert (await key_rows(any_ctx))[-4:] == [
        ("key.created", owner.id, None, "ok", {"kind": "owner", "owner": "Dana", "by": "admin"}),
        ("key.created", owner.id, bot.id, "ok", {"kind": "agent", "agent": "dana-bot", **by}),
        ("key.rotated", owner.id, bot.id, "ok", {"kind": "agent", "agent": "dana-bot", **by}),
        ("key.rotated", owner.id, None, "ok", {"kind": "owner", "owner": "Dana", "by": "admin"}),
    ]
    # The owner sees the rows of its own keys in its audit log.
    mine = await list_audit(any_ctx, as_owner, AuditFilter(operation="key."))
    assert mine.total == 4
    text = await audit_text(any_ctx)
    for key in (owner_key, bot_key, new_bot_key, new_owner_key):
        assert key not in text and any_ctx.keys.hash(key) not in text
    assert (await verify_chain(any_ctx, root)).ok


async def test_a_generated_master_key_is_a_key_created_row(settings: Settings) -> None:
    """The master key made on the first start is recorded (for the default owner), without
    the key; a configured one is not generated, so it is not recorded as created."""
    ctx = await build_context(settings)
    try:
        key = await accounts.ensure_bootstrap(ctx)
        assert key is not None and key.startswith("mk_")
        root = await admin(ctx)
        assert await key_rows(ctx) == [
            ("key.created", root.owner_id, None, "ok", {"kind": "master", "by": "bootstrap"})
        ]
        assert await accounts.ensure_bootstrap(ctx) is None
        assert len(await key_rows(ctx)) == 1
        text = await audit_text(ctx)
        assert key not in text and ctx.keys.hash(key) not in text
    finally:
        await ctx.close()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_key_rotated_through_another_process_stops_working_there(
    settings: Settings, dialect: str
) -> None:
    """Two server processes on one database: rotating a key through one makes the old key
    fail in the other as soon as the notice arrives, long before its cache would let go."""
    async with two_contexts(settings, dialect) as (rotating, serving):
        await accounts.ensure_bootstrap(rotating)
        serving.principals = TtlCache(serving.events, "principals", ttl=3600)
        _alice, old = await accounts.create_agent(rotating, await admin(rotating), name="alice")
        await accounts.authenticate(serving, old)  # now kept in the serving process
        _alice, new = await accounts.rotate_agent_key(rotating, await admin(rotating), "alice")
        async with asyncio.timeout(10):
            while True:
                try:
                    await accounts.authenticate(serving, old)
                except Unauthenticated:
                    break
                await asyncio.sleep(0.02)
        assert (await accounts.authenticate(serving, new)).agent is not None


async def test_a_configured_master_key_is_recorded_when_first_used_and_when_changed(
    settings: Settings,
) -> None:
    """A master key from the settings is a key.created row on the first start, nothing on a
    restart with the same key, and key.rotated when a start brings another one (the old one
    no longer works)."""
    first_key, second_key = "mk_" + "1" * 48, "mk_" + "2" * 48
    for key in (first_key, first_key, second_key):
        ctx = await build_context(settings.model_copy(update={"master_key": SecretStr(key)}))
        try:
            assert await accounts.ensure_bootstrap(ctx) is None  # nothing generated to show
        finally:
            await ctx.close()
    ctx = await build_context(settings)
    try:
        root = await admin(ctx)
        by = {"kind": "master", "by": "settings"}
        assert await key_rows(ctx) == [
            ("key.created", root.owner_id, None, "ok", by),
            ("key.rotated", root.owner_id, None, "ok", by),
        ]
        with pytest.raises(Unauthenticated):
            await accounts.authenticate(ctx, first_key)
        assert (await accounts.authenticate(ctx, second_key)).kind is PrincipalKind.admin
        text = await audit_text(ctx)
        assert all(k not in text and ctx.keys.hash(k) not in text for k in (first_key, second_key))
    finally:
        await ctx.close()
