"""Relay inbound against a real Dovecot: routing, original bytes, exactly once, restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select, update

from agentpost.config import Settings
from agentpost.errors import MailboxFull, RelayCheckFailed
from agentpost.relay.imap import open_session
from agentpost.services import accounts, mailbox, relay, relay_search, smtp_configs
from agentpost.services.context import AppContext, build_context
from agentpost.services.outbox import SendRequest, submit_message
from agentpost.services.relay_poller import RelayPoller, sync_account
from agentpost.services.vault_rotation import rotate_vault
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import relay as relay_repo
from agentpost.storage.repositories import smtp_configs as smtp_repo
from agentpost.storage.tables import agents
from agentpost.storage.tables.audit import audit_log
from agentpost.storage.tables.relay import relay_imports
from agentpost.testing.dovecot import Dovecot, dovecot_available
from agentpost.testing.relay import (
    RELAY_EMAIL,
    RELAY_PASSWORD,
    SmtpPeer,
    message,
    relay_setup,
    smtp_peer,
)

from .support import admin, agent

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not dovecot_available(), reason="needs dovecot-imapd"),
]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        server.add_user(RELAY_EMAIL, RELAY_PASSWORD)
        yield server


@pytest.fixture
async def peer() -> AsyncIterator[SmtpPeer]:
    async with smtp_peer(RELAY_EMAIL, RELAY_PASSWORD) as server:
        yield server


async def _sync(ctx: AppContext, account_id: str) -> None:
    async with ctx.db.read() as conn:
        account = await relay_repo.account_by_id(conn, account_id)
    assert account is not None
    session = await asyncio.to_thread(open_session, relay.imap_endpoint(ctx, account))
    try:
        assert await sync_account(ctx, account_id, session)
    finally:
        await asyncio.to_thread(session.close)


async def _inbox(ctx: AppContext, name: str) -> list[bytes]:
    async with ctx.db.read() as conn:
        record = await account_repo.agent_by_name(conn, name)
    assert record is not None
    page = await mailbox.list_folder(ctx, record, "INBOX", limit=100, offset=0)
    return [await mailbox.read_raw(ctx, record, m.uid) for m in reversed(page.messages)]


async def test_setup_checks_both_sides_and_seals_the_password(
    any_ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    result = await relay.setup_relay(any_ctx, await admin(any_ctx), relay_setup(dovecot, peer))
    assert result.agent is not None and result.agent.name == "secretary"
    assert result.api_key and result.api_key.startswith("ak_")
    account = result.account
    assert account.status == "active" and account.email == RELAY_EMAIL
    assert account.smtp_config_id is not None
    assert RELAY_PASSWORD not in account.imap_password
    assert relay.imap_endpoint(any_ctx, account).password == RELAY_PASSWORD


async def test_bad_password_is_refused_and_nothing_is_saved(
    ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    with pytest.raises(RelayCheckFailed) as caught:
        await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer, password="nope"))
    assert caught.value.code == "relay_login_failed"
    assert "IMAP" in caught.value.message and "nope" not in caught.value.message
    async with ctx.db.read() as conn:
        assert await relay_repo.all_accounts(conn) == []


async def test_a_refused_smtp_login_is_reported_with_the_servers_reply(
    ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    peer.password = "only-the-smtp-side-differs"
    with pytest.raises(RelayCheckFailed) as caught:
        await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer))
    assert caught.value.code == "relay_login_failed"
    assert caught.value.message.startswith("SMTP check failed")
    assert "535" in caught.value.message
    assert RELAY_PASSWORD not in caught.value.message
    async with ctx.db.read() as conn:
        assert await relay_repo.all_accounts(conn) == []


async def test_gmails_app_password_answer_comes_with_the_fix(
    ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    peer.password = "an-app-password"
    peer.refusal = "534 5.7.9 Application-specific password required. gsmtp"
    with pytest.raises(RelayCheckFailed) as caught:
        await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer))
    assert caught.value.code == "relay_login_failed"
    assert "534 5.7.9" in caught.value.message
    assert "apppasswords" in caught.value.message  # the hint names where to make one


async def test_routing_by_subaddress_thread_and_default(
    any_ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    ctx = any_ctx
    await agent(ctx, "alice")
    await agent(ctx, "bob")
    result = await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer))
    first = message("Owner <owner+alice@relay.test>", "for alice", "<m1@example.org>")
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, first)
    dovecot.append(
        RELAY_EMAIL,
        RELAY_PASSWORD,
        message("owner@relay.test", "nobody in particular", "<m2@example.org>"),
    )
    await _sync(ctx, result.account.id)
    assert await _inbox(ctx, "alice") == [first]  # byte for byte, headers and all
    assert len(await _inbox(ctx, "secretary")) == 1
    assert await _inbox(ctx, "bob") == []


async def test_agents_send_as_subaddress_and_replies_find_the_sender(
    any_ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    ctx = any_ctx
    alice = await agent(ctx, "alice")
    result = await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer))
    sent = await submit_message(
        ctx, alice, SendRequest(to="carol@example.org", subject="Quote", text="Here it is")
    )
    raw = await mailbox.read_raw(ctx, alice, sent.uid, "Sent")
    assert b"From: alice <owner+alice@relay.test>\r\n" in raw
    assert b"Reply-To: alice <owner+alice@relay.test>\r\n" in raw
    # Carol answers the bare address: only the thread headers say who it is for.
    reply = message(
        "owner@relay.test",
        "Re: Quote",
        "<r1@example.org>",
        extra=f"In-Reply-To: {sent.message_id}\r\nReferences: {sent.message_id}\r\n",
    )
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, reply)
    await _sync(ctx, result.account.id)
    assert await _inbox(ctx, "alice") == [reply]
    assert await _inbox(ctx, "secretary") == []


async def test_nothing_is_imported_twice_across_restarts(
    settings: Settings, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    first_ctx = await build_context(settings)
    await accounts.ensure_bootstrap(first_ctx)
    try:
        await agent(first_ctx, "alice")
        result = await relay.setup_relay(
            first_ctx, await admin(first_ctx), relay_setup(dovecot, peer)
        )
        dovecot.append(
            RELAY_EMAIL, RELAY_PASSWORD, message("owner+alice@relay.test", "one", "<a1@x>")
        )
        await _sync(first_ctx, result.account.id)
        assert len(await _inbox(first_ctx, "alice")) == 1
    finally:
        await first_ctx.close()
    # A new process on the same database: same mailbox, one more message, and a copy of one
    # already imported (same Message-ID, new UID), as a provider's label copy would make.
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, message("owner+alice@relay.test", "two", "<a2@x>"))
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, message("owner+alice@relay.test", "one", "<a1@x>"))
    second_ctx = await build_context(settings)
    try:
        await _sync(second_ctx, result.account.id)
        await _sync(second_ctx, result.account.id)
        subjects = [
            m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in await _inbox(second_ctx, "alice")
        ]
        assert subjects == [b"one", b"two"]
        async with second_ctx.db.read() as conn:
            account = await relay_repo.account_by_id(conn, result.account.id)
        assert account is not None and account.last_seen_uid == 3 and account.imported_count == 2
    finally:
        await second_ctx.close()


async def test_own_sends_in_the_mailbox_are_not_imported(
    ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    await agent(ctx, "alice")
    result = await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer))
    own = message(
        "carol@example.org", "sent by alice", "<s1@x>", sender="alice <owner+alice@relay.test>"
    )
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, own)
    await _sync(ctx, result.account.id)
    assert await _inbox(ctx, "alice") == [] and await _inbox(ctx, "secretary") == []


async def test_idle_delivers_new_mail_promptly(
    settings: Settings, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    # Polling would take a minute: only IDLE can deliver within the timeout below.
    slow = settings.model_copy(update={"relay_poll_seconds": 60.0})
    ctx = await build_context(slow)
    await accounts.ensure_bootstrap(ctx)
    poller = RelayPoller(ctx)
    try:
        alice = await agent(ctx, "alice")
        await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer))
        await poller.start()
        await asyncio.wait_for(poller.idling.wait(), timeout=10)
        async with ctx.events.subscribe(alice.id) as events:
            dovecot.append(
                RELAY_EMAIL, RELAY_PASSWORD, message("owner+alice@relay.test", "ping", "<i1@x>")
            )
            event = await asyncio.wait_for(events.get(), timeout=10)
        assert event.type == "new" and event.data["subject"] == "ping"
    finally:
        await poller.close()
        await ctx.close()


async def test_without_idle_the_poller_polls_and_records_errors(
    settings: Settings, peer: SmtpPeer
) -> None:
    fast = settings.model_copy(update={"relay_poll_seconds": 0.2, "relay_max_backoff_seconds": 0.4})
    ctx = await build_context(fast)
    await accounts.ensure_bootstrap(ctx)
    poller = RelayPoller(ctx)
    try:
        with Dovecot(idle=False) as server:
            server.add_user(RELAY_EMAIL, RELAY_PASSWORD)
            alice = await agent(ctx, "alice")
            result = await relay.setup_relay(ctx, await admin(ctx), relay_setup(server, peer))
            await poller.start()
            async with ctx.events.subscribe(alice.id) as events:
                server.append(
                    RELAY_EMAIL, RELAY_PASSWORD, message("owner+alice@relay.test", "poll", "<p1@x>")
                )
                event = await asyncio.wait_for(events.get(), timeout=10)
            assert event.data["subject"] == "poll"
            assert poller.idling.is_set() is False  # it never IDLEd: it polled
        # The server is gone: the watcher records why, for check_gateway_status.
        await asyncio.wait_for(poller.failed.wait(), timeout=15)
        async with ctx.db.read() as conn:
            failed = await relay_repo.account_by_id(conn, result.account.id)
        assert failed is not None and failed.status == "error"
        assert failed.last_error and "IMAP" in failed.last_error
        assert RELAY_PASSWORD not in failed.last_error
    finally:
        await poller.close()
        await ctx.close()


async def test_vault_rotation_reseals_the_relay_password(
    ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    result = await relay.setup_relay(ctx, await admin(ctx), relay_setup(dovecot, peer))
    before = result.account.imap_password
    report = await rotate_vault(ctx)
    async with ctx.db.read() as conn:
        account = await relay_repo.account_by_id(conn, result.account.id)
    assert account is not None and account.imap_password != before
    assert account.imap_password.startswith(report.new_key_id + ":")
    assert relay.imap_endpoint(ctx, account).password == RELAY_PASSWORD
    await _sync(ctx, account.id)  # and the watcher can still log in


async def test_deleting_the_relays_smtp_configuration_disconnects_only_its_smtp_side(
    any_ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    """The relay's smtp_config_id is a real foreign key: deleting the configuration sets it to
    NULL (never a dangling id), the IMAP side keeps importing, and setting the relay up again
    makes a fresh SMTP configuration."""
    principal = await admin(any_ctx)
    result = await relay.setup_relay(any_ctx, principal, relay_setup(dovecot, peer))
    old_config = result.account.smtp_config_id
    assert old_config is not None
    await smtp_configs.delete_config(any_ctx, principal, old_config)
    async with any_ctx.db.read() as conn:
        account = await relay_repo.account_by_id(conn, result.account.id)
        assert await smtp_repo.get_config(conn, old_config) is None
    assert account is not None and account.smtp_config_id is None
    after = message("owner@relay.test", "after", "<after@example.org>")
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, after)
    await _sync(any_ctx, account.id)
    assert await _inbox(any_ctx, "secretary") == [after]
    again = await relay.setup_relay(any_ctx, principal, relay_setup(dovecot, peer))
    assert again.account.id == account.id
    assert again.account.smtp_config_id not in (None, old_config)


async def _imports(ctx: AppContext) -> dict[int, str]:
    async with ctx.db.read() as conn:
        result = await conn.execute(select(relay_imports.c.uid, relay_imports.c.route))
        return {int(r[0]): str(r[1]) for r in result}


async def _fill(ctx: AppContext, name: str, used: int) -> None:
    async with ctx.db.write() as conn:
        await conn.execute(update(agents).where(agents.c.name == name).values(used_bytes=used))


async def test_a_full_mailbox_holds_relay_mail_and_a_later_sync_imports_it(
    any_ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    """The SMTP inbound quota rule applies to relay imports: mail for a full mailbox is held
    (recorded and audited, never dropped), other agents' mail is not blocked behind it, and
    once there is room the next sync imports it byte for byte."""
    quota = 50_000
    any_ctx.settings = any_ctx.settings.model_copy(update={"mailbox_quota_bytes": quota})
    await agent(any_ctx, "alice")
    result = await relay.setup_relay(any_ctx, await admin(any_ctx), relay_setup(dovecot, peer))
    await _fill(any_ctx, "secretary", quota)
    for_secretary = message("owner@relay.test", "unroutable", "<h1@example.org>")
    for_alice = message("Owner <owner+alice@relay.test>", "for alice", "<h2@example.org>")
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, for_secretary)
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, for_alice)

    await _sync(any_ctx, result.account.id)
    assert await _inbox(any_ctx, "alice") == [for_alice]
    assert await _inbox(any_ctx, "secretary") == []
    held = await _imports(any_ctx)
    assert sorted(held.values()) == ["held", "subaddress"]
    async with any_ctx.db.read() as conn:
        audited = (
            await conn.execute(
                select(audit_log.c.status, audit_log.c.error, audit_log.c.detail).where(
                    audit_log.c.operation == "relay.held"
                )
            )
        ).all()
    assert [(a[0], a[1], json.loads(a[2])["messageId"]) for a in audited] == [
        ("refused", "mailbox_full", "<h1@example.org>")
    ]

    await _sync(any_ctx, result.account.id)  # still full: still held, nothing stored
    assert await _imports(any_ctx) == held and await _inbox(any_ctx, "secretary") == []

    await _fill(any_ctx, "secretary", 0)
    await _sync(any_ctx, result.account.id)
    assert await _inbox(any_ctx, "secretary") == [for_secretary]
    assert sorted((await _imports(any_ctx)).values()) == ["default", "subaddress"]
    async with any_ctx.db.read() as conn:
        account = await relay_repo.account_by_id(conn, result.account.id)
    assert account is not None and account.imported_count == 2


async def test_importing_a_held_message_by_hand_obeys_the_quota_and_settles_it(
    any_ctx: AppContext, dovecot: Dovecot, peer: SmtpPeer
) -> None:
    """import_relay_email on a held message: 507 mailbox_full while there is no room (the
    message stays held); with room it is stored once, and the poller leaves it alone after."""
    quota = 50_000
    any_ctx.settings = any_ctx.settings.model_copy(update={"mailbox_quota_bytes": quota})
    result = await relay.setup_relay(any_ctx, await admin(any_ctx), relay_setup(dovecot, peer))
    assert result.agent is not None
    await _fill(any_ctx, "secretary", quota)
    held = message("owner@relay.test", "unroutable", "<h3@example.org>")
    dovecot.append(RELAY_EMAIL, RELAY_PASSWORD, held)
    await _sync(any_ctx, result.account.id)
    ((uid, route),) = (await _imports(any_ctx)).items()
    assert route == "held"
    with pytest.raises(MailboxFull) as full:
        await relay_search.import_relay(any_ctx, result.agent, uid)
    assert full.value.status == 507 and full.value.code == "mailbox_full"
    assert await _imports(any_ctx) == {uid: "held"}

    await _fill(any_ctx, "secretary", 0)
    imported = await relay_search.import_relay(any_ctx, result.agent, uid)
    assert not imported.already
    assert await _imports(any_ctx) == {uid: "manual"}
    await _sync(any_ctx, result.account.id)
    assert await _inbox(any_ctx, "secretary") == [held]  # once, not again by the poller
