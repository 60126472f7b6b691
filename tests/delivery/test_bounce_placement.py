"""Bounce notices are filed through services/placement like any other incoming copy: the
sender's rules choose folder, flags and tags, and the scan row is stored with the copy."""

from __future__ import annotations

import pytest

from agentpost.domain.folders import INBOX
from agentpost.services import mailbox, rules, tags, trust
from agentpost.services.context import AppContext
from agentpost.storage.repositories import scanning as scan_repo
from agentpost.testing.fake_smtp import FakeRelay

from .support import agent, endpoint, send, worker

pytestmark = pytest.mark.anyio


async def test_bounce_follows_the_senders_rules_and_is_scanned_on_arrival(
    any_ctx: AppContext, relay: FakeRelay
) -> None:
    alice = await agent(any_ctx, "alice")
    await mailbox.create_folder(any_ctx, alice, "Bounces")
    await rules.create_rule(
        any_ctx,
        alice,
        name="bounces",
        conditions={"from_contains": "mailer-daemon@"},
        actions={"move_to": "Bounces", "mark_read": True, "add_tags": ["undeliverable"]},
    )
    relay.script.rcpt["ghost@example.com"] = "550 5.1.1 <ghost@example.com>: mailbox unknown"
    await send(any_ctx, alice, "ghost@example.com", "Plans")
    async with any_ctx.events.subscribe(alice.id) as events:
        async with worker(any_ctx, endpoint(relay.port)) as running:
            await running.worker.wait_recorded(1)
        event = events.get_nowait()

    assert event.data["folder"] == "Bounces"
    assert (await mailbox.list_folder(any_ctx, alice, INBOX, limit=10, offset=0)).total == 0
    (notice,) = (await mailbox.list_folder(any_ctx, alice, "Bounces", limit=10, offset=0)).messages
    assert notice.from_addr == "MAILER-DAEMON@localhost" and notice.seen
    labels = await tags.message_tags(any_ctx, alice, notice.uid, "Bounces")
    assert [t.name for t in labels] == ["undeliverable"]
    async with any_ctx.db.read() as conn:
        scanned = await scan_repo.scan_of(conn, notice.id)
    # Scanned at delivery as mail this server built: not a forged local sender, not spam.
    assert scanned is not None and scanned.internal and scanned.verdict == "ham"
    view = await trust.read_message(any_ctx, alice, notice.uid, "Bounces")
    assert view.trust is not None and view.trust.internal
    assert "ph_forged_local_sender" not in {m.rule_id for m in view.trust.report.matches}
