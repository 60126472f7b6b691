"""Accounts on SQLite and PostgreSQL: agents, owners, keys and metadata."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from agentpost.config import Settings
from agentpost.domain.folders import SPECIAL_FOLDERS
from agentpost.errors import (
    AgentExists,
    AgentNotFound,
    Conflict,
    Forbidden,
    InvalidInput,
    Unauthenticated,
)
from agentpost.services import accounts, lifecycle, mailbox, queue
from agentpost.services.accounts import PrincipalKind
from agentpost.services.context import AppContext, build_context
from agentpost.services.queue import QueueSelection
from agentpost.services.ttl_cache import TtlCache

from .support import admin, agent, fresh, send, table_counts
from .two_processes import DIALECTS, two_contexts

pytestmark = pytest.mark.anyio


async def test_create_agent_gives_an_address_a_key_and_the_special_folders(
    any_ctx: AppContext,
) -> None:
    """A new agent has a lower-cased address on our domain, its role, and every special folder."""
    record, key = await accounts.create_agent(
        any_ctx, await admin(any_ctx), name="Secretary", role="researcher", metadata={"a": 1}
    )
    assert record.name == "Secretary"
    assert record.address == "secretary@localhost"
    assert record.role == "researcher"
    assert record.metadata == {"a": 1}
    assert key.startswith("ak_") and len(key) == 51
    folders = await mailbox.list_folders(any_ctx, record)
    assert [f.name for f in folders] == list(SPECIAL_FOLDERS)
    assert all(f.total == 0 and f.unseen == 0 for f in folders)


async def test_first_agent_is_persistent_later_ones_are_not(any_ctx: AppContext) -> None:
    """The first agent is never cleaned up; later agents are persistent only when asked."""
    first = await agent(any_ctx, "first")
    second = await agent(any_ctx, "second")
    third, _ = await accounts.create_agent(
        any_ctx, await admin(any_ctx), name="third", persistent=True
    )
    assert (first.persistent, second.persistent, third.persistent) == (True, False, True)


@pytest.mark.parametrize("duplicate", ["helper", "HELPER", "Helper"])
async def test_duplicate_agent_names_conflict_case_insensitively(
    any_ctx: AppContext, duplicate: str
) -> None:
    """Names are unique regardless of case: they become the same mailbox address."""
    await agent(any_ctx, "helper")
    with pytest.raises(AgentExists) as caught:
        await agent(any_ctx, duplicate)
    assert caught.value.status == 409
    assert len(await accounts.list_agents(any_ctx, await admin(any_ctx))) == 1


async def test_bad_role_and_bad_name_are_invalid_input_naming_the_field(
    any_ctx: AppContext,
) -> None:
    """Bad input is a 400 that names the field; nothing is created."""
    principal = await admin(any_ctx)
    with pytest.raises(InvalidInput) as bad_role:
        await accounts.create_agent(any_ctx, principal, name="ok", role="overlord")
    assert bad_role.value.field == "role"
    with pytest.raises(InvalidInput) as bad_name:
        await accounts.create_agent(any_ctx, principal, name="no spaces")
    assert bad_name.value.field == "name"
    with pytest.raises(InvalidInput) as bad_meta:
        await accounts.create_agent(any_ctx, principal, name="ok", metadata=[1])  # type: ignore[arg-type]
    assert bad_meta.value.field == "metadata"
    assert await accounts.list_agents(any_ctx, principal) == []


async def test_agents_cannot_create_or_list_agents(any_ctx: AppContext) -> None:
    """An agent key is not an owner key: account management is refused with 403."""
    bot, key = await accounts.create_agent(any_ctx, await admin(any_ctx), name="bot")
    principal = await accounts.authenticate(any_ctx, key)
    with pytest.raises(Forbidden):
        await accounts.create_agent(any_ctx, principal, name="other")
    with pytest.raises(Forbidden):
        await accounts.list_agents(any_ctx, principal)
    assert principal.require_agent() == bot


async def test_authenticate_master_owner_and_agent_keys(any_ctx: AppContext) -> None:
    """Each kind of key resolves to its principal; the master key acts for the default owner."""
    master = "mk_" + "1" * 48
    any_ctx.settings = any_ctx.settings.model_copy(update={"master_key": SecretStr(master)})
    assert await accounts.ensure_bootstrap(any_ctx) is None
    as_admin = await accounts.authenticate(any_ctx, f"  {master}  ")
    assert as_admin.kind is PrincipalKind.admin
    assert as_admin.owner_id == (await admin(any_ctx)).owner_id

    owner, owner_key = await accounts.create_owner(any_ctx, as_admin, name="Dana")
    as_owner = await accounts.authenticate(any_ctx, owner_key)
    assert (as_owner.kind, as_owner.owner_id, as_owner.agent) == (
        PrincipalKind.owner,
        owner.id,
        None,
    )

    bot, agent_key = await accounts.create_agent(any_ctx, as_owner, name="dana-bot")
    as_agent = await accounts.authenticate(any_ctx, agent_key)
    assert as_agent.kind is PrincipalKind.agent
    assert as_agent.owner_id == owner.id
    assert as_agent.agent is not None and as_agent.agent.id == bot.id


async def test_generated_master_key_is_returned_once(any_ctx: AppContext) -> None:
    """Without a configured key, bootstrap made one already; asking again makes no new one."""
    assert await accounts.ensure_bootstrap(any_ctx) is None


@pytest.mark.parametrize(
    "token",
    ["", "   ", "ak_" + "0" * 48, "ok_" + "0" * 48, "mk_" + "0" * 48, "garbage", "Bearer x"],
)
async def test_unknown_keys_are_unauthenticated(any_ctx: AppContext, token: str) -> None:
    """Anything that is not a stored key is a 401, whatever its prefix."""
    await agent(any_ctx, "someone")
    with pytest.raises(Unauthenticated) as caught:
        await accounts.authenticate(any_ctx, token)
    assert caught.value.status == 401


async def test_owner_cannot_use_an_agent_key_hash_or_see_other_owners(
    any_ctx: AppContext,
) -> None:
    """Owners see only their agents; another owner's agent is simply not found."""
    root = await admin(any_ctx)
    _, key_a = await accounts.create_owner(any_ctx, root, name="A")
    _, key_b = await accounts.create_owner(any_ctx, root, name="B")
    owner_a = await accounts.authenticate(any_ctx, key_a)
    owner_b = await accounts.authenticate(any_ctx, key_b)
    bot_a, _ = await accounts.create_agent(any_ctx, owner_a, name="bot-a")
    assert [a.name for a in await accounts.list_agents(any_ctx, owner_b)] == []
    with pytest.raises(AgentNotFound):
        await accounts.get_agent(any_ctx, owner_b, bot_a.id)
    with pytest.raises(AgentNotFound):
        await lifecycle.delete_agent(any_ctx, owner_b, "bot-a")
    with pytest.raises(Forbidden):
        await accounts.create_owner(any_ctx, owner_a, name="C")
    assert (await accounts.get_agent(any_ctx, root, bot_a.id)).name == "bot-a"


async def test_metadata_merge_adds_replaces_and_null_removes(any_ctx: AppContext) -> None:
    """PATCH metadata is a merge patch (RFC 7386): new keys added, null removes, rest kept."""
    _, key = await accounts.create_agent(
        any_ctx,
        await admin(any_ctx),
        name="meta",
        metadata={"keep": 1, "drop": "x", "change": "old", "nested": {"a": 1, "b": 2}},
    )
    principal = await accounts.authenticate(any_ctx, key)
    updated = await accounts.update_metadata(
        any_ctx,
        principal,
        {"drop": None, "change": "new", "added": [1, 2], "nested": {"b": None, "c": 3}},
    )
    expected = {"keep": 1, "change": "new", "added": [1, 2], "nested": {"a": 1, "c": 3}}
    assert updated.metadata == expected
    assert (await fresh(any_ctx, updated)).metadata == expected
    assert updated.updated_at >= updated.created_at


async def test_metadata_patch_must_be_an_object(any_ctx: AppContext) -> None:
    """A non-object patch is refused and the stored metadata is unchanged."""
    _, key = await accounts.create_agent(
        any_ctx, await admin(any_ctx), name="meta", metadata={"k": "v"}
    )
    principal = await accounts.authenticate(any_ctx, key)
    with pytest.raises(InvalidInput) as caught:
        await accounts.update_metadata(any_ctx, principal, ["not", "an", "object"])  # type: ignore[arg-type]
    assert caught.value.field == "metadata"
    assert principal.agent is not None
    assert (await fresh(any_ctx, principal.agent)).metadata == {"k": "v"}


async def test_delete_agent_purges_its_mail_and_keeps_shared_copies(any_ctx: AppContext) -> None:
    """Deleting an agent removes its messages, folders, deliveries and unshared blobs; a copy
        another agent received stays readable, and the deleted key stops working at once, though
    requests just used it."""
    principal = await admin(any_ctx)
    alice, alice_key = await accounts.create_agent(any_ctx, principal, name="alice")
    bob = await agent(any_ctx, "bob")
    to_bob = await send(any_ctx, alice, "bob@localhost", "shared", text="for bob")
    await send(any_ctx, alice, "x@example.com", "external only", text="queued")
    await send(any_ctx, bob, "alice@localhost", "to alice", text="for alice")
    before = await table_counts(any_ctx)

    # The external send is still queued; deletion would refuse it (delivery_pending).
    await queue.cancel(any_ctx, principal, QueueSelection(agent="alice", everything=True))
    assert (await accounts.authenticate(any_ctx, alice_key)).agent is not None  # kept a moment
    deleted, _report = await lifecycle.delete_agent(any_ctx, principal, "ALICE")
    assert deleted.id == alice.id

    after = await table_counts(any_ctx)
    # Gone: alice's two Sent copies and her INBOX copy, their index rows, her 3 deliveries,
    # and the external-only blob. Kept: bob's INBOX copy of "shared", bob's Sent copy.
    assert after["messages"] == before["messages"] - 3 == 2
    assert after["deliveries"] == 1  # bob's delivery row for the message to alice
    assert after["message_blobs"] == 2
    if "messages_fts" in after:
        assert after["messages_fts"] == 2
    assert to_bob.status == "delivered"
    view = await mailbox.read_message(any_ctx, bob, 1)
    assert (view.record.subject, view.parsed.text) == ("shared", "for bob\n")
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(any_ctx, alice_key)
    with pytest.raises(AgentNotFound):
        await accounts.find_agent(any_ctx, principal, "alice")

    # A new agent with the same name starts empty.
    reborn = await agent(any_ctx, "alice")
    assert (await mailbox.list_folder(any_ctx, reborn, "INBOX", limit=10, offset=0)).total == 0
    assert (await fresh(any_ctx, reborn)).used_bytes == 0


@pytest.mark.anyio
async def test_the_mail_domain_belongs_to_the_database(tmp_path: Path) -> None:
    """The first start records the domain; a later process that names no domain adopts it
    (so its agents get reachable addresses), and one that names another is refused."""
    first = await build_context(Settings(data_dir=tmp_path, domain="example.org"))
    await accounts.ensure_bootstrap(first)
    await first.close()

    unnamed = await build_context(Settings(data_dir=tmp_path))
    await accounts.ensure_bootstrap(unnamed)
    agent, _ = await accounts.create_agent(
        unnamed, await accounts.admin_principal(unnamed), name="alice"
    )
    await unnamed.close()
    assert agent.address == "alice@example.org"

    other = await build_context(Settings(data_dir=tmp_path, domain="other.net"))
    with pytest.raises(Conflict) as refused:
        await accounts.ensure_bootstrap(other)
    await other.close()
    assert refused.value.code == "domain_mismatch"
    assert "example.org" in refused.value.message


async def test_a_metadata_change_reaches_the_very_next_request(any_ctx: AppContext) -> None:
    """Requests carry the caller's record, kept for a moment after the key's lookup; a change
    to the agent's metadata shows in the next request (its display name goes on mail)."""
    _record, key = await accounts.create_agent(any_ctx, await admin(any_ctx), name="alice")
    caller = await accounts.authenticate(any_ctx, key)
    await accounts.update_metadata(any_ctx, caller, {"displayName": "Alice A."})
    again = await accounts.authenticate(any_ctx, key)
    assert again.agent is not None and again.agent.metadata == {"displayName": "Alice A."}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_key_deleted_through_another_process_stops_working_there(
    settings: Settings, dialect: str
) -> None:
    """Two server processes on one database: deleting an agent through one makes its key fail
    in the other as soon as the notice arrives (LISTEN/NOTIFY on PostgreSQL, sockets on
    SQLite), long before the cache would let the entry go by itself."""
    async with two_contexts(settings, dialect) as (deleting, serving):
        await accounts.ensure_bootstrap(deleting)
        serving.principals = TtlCache(serving.events, "principals", ttl=3600)
        _alice, key = await accounts.create_agent(deleting, await admin(deleting), name="alice")
        await accounts.authenticate(serving, key)  # now kept in the serving process
        await lifecycle.delete_agent(deleting, await admin(deleting), "alice")
        async with asyncio.timeout(10):
            while True:
                try:
                    await accounts.authenticate(serving, key)
                except Unauthenticated:
                    break
                await asyncio.sleep(0.02)
