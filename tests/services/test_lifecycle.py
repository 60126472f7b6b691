"""Account lifecycle: deletion archives the mailbox under a report, reports are scoped to their
owner, inactive agents are found and cleaned up, persistent agents never are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from agentpost.errors import AgentNotFound, DeletionReportNotFound, DeliveryPending, InvalidInput
from agentpost.services import accounts, lifecycle, queue
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.queue import QueueSelection
from agentpost.storage.tables import agents

from .support import admin, agent, send, table_counts

pytestmark = pytest.mark.anyio


async def _idle(ctx: AppContext, agent_id: str, hours: float) -> None:
    moment = now_utc() - timedelta(hours=hours)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(agents)
            .where(agents.c.id == agent_id)
            .values(last_activity_at=moment, created_at=moment)
        )


async def test_delete_archives_the_mailbox_with_a_report(any_ctx: AppContext) -> None:
    principal = await admin(any_ctx)
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    await send(any_ctx, alice, "bob@localhost", "one")
    await send(any_ctx, alice, "bob@localhost", "two")
    await send(any_ctx, bob, ["alice@localhost", "x@example.com"], "back")
    # x@example.com is still queued: deleting bob would cancel it, so it is refused whole.
    with pytest.raises(DeliveryPending) as refused:
        await lifecycle.delete_agent(any_ctx, principal, "bob")
    assert "agentpost queue cancel --agent bob --all" in refused.value.message
    assert await accounts.find_agent(any_ctx, principal, "bob")
    assert await lifecycle.list_reports(any_ctx, principal) == []
    everything = QueueSelection(agent="bob", everything=True)
    assert await queue.cancel(any_ctx, principal, everything) == 1
    removed, report = await lifecycle.delete_agent(
        any_ctx, principal, "bob", reason="project over", deleted_by="test"
    )
    assert removed.id == bob.id
    assert report.summary.folder_counts["INBOX"] == 2
    assert report.summary.folder_counts["Sent"] == 1
    assert report.summary.total == 3
    assert report.summary.top_correspondents[0] == ("alice@localhost", 3)
    assert report.reason == "project over" and report.deleted_by == "test (admin)"
    with pytest.raises(AgentNotFound):
        await accounts.find_agent(any_ctx, principal, "bob")
    stored, archived = await lifecycle.get_report(any_ctx, principal, report.id)
    assert stored.summary == report.summary
    assert sorted(a.subject for a in archived) == ["back", "one", "two"]
    raw = await lifecycle.archived_raw(any_ctx, principal, report.id, archived[0].id)
    assert b"Subject: " in raw
    # alice's own copies are untouched; bob's live rows are gone
    counts = await table_counts(any_ctx)
    assert counts["messages"] == 3  # alice: Sent x2 + INBOX x1
    assert [r.id for r in await lifecycle.list_reports(any_ctx, principal)] == [report.id]


async def test_reports_belong_to_their_owner(ctx: AppContext) -> None:
    principal = await admin(ctx)
    await agent(ctx, "alice")
    _, report = await lifecycle.delete_agent(ctx, principal, "alice")
    other, key = await accounts.create_owner(ctx, principal, name="other")
    stranger = await accounts.authenticate(ctx, key)
    assert await lifecycle.list_reports(ctx, stranger) == []
    with pytest.raises(DeletionReportNotFound):
        await lifecycle.get_report(ctx, stranger, report.id)
    assert other.id != principal.owner_id


async def test_cleanup_spares_persistent_agents_and_dry_run_deletes_nothing(
    ctx: AppContext,
) -> None:
    principal = await admin(ctx)
    first = await agent(ctx, "first")  # the first agent is persistent
    idle = await agent(ctx, "idle")
    busy = await agent(ctx, "busy")
    kept = await agent(ctx, "kept")
    sender = await agent(ctx, "sender")  # idle, but its mail is still being delivered
    await send(ctx, sender, "x@example.com", "queued")
    for record in (first, idle, kept, sender):
        await _idle(ctx, record.id, 48)
    await lifecycle.set_persistent(ctx, principal, kept.id, True)
    found = await lifecycle.list_inactive(ctx, principal, 24)
    assert sorted(a.name for a in found) == ["idle", "sender"]
    dry = await lifecycle.cleanup(ctx, principal, 24, dry_run=True)
    assert dry.dry_run and sorted(a.name for a in dry.agents) == ["idle", "sender"]
    assert await accounts.find_agent(ctx, principal, "idle")
    done = await lifecycle.cleanup(ctx, principal, 24, dry_run=False)
    assert [a.name for a in done.agents] == ["idle"]
    names = {a.name for a in await accounts.list_agents(ctx, principal)}
    assert names == {"first", "busy", "kept", "sender"}
    (report,) = await lifecycle.list_reports(ctx, principal)
    assert report.agent_name == "idle" and report.reason == "inactive for more than 24 hours"
    assert busy.persistent is False
    with pytest.raises(InvalidInput):
        await lifecycle.list_inactive(ctx, principal, 0)


async def test_the_service_layer_has_one_way_to_delete_an_agent(ctx: AppContext) -> None:
    """No bare hard delete beside lifecycle.delete_agent: every caller gets the archive, the
    report and the in-flight delivery check."""
    assert not hasattr(accounts, "delete_agent")
    principal = await admin(ctx)
    await agent(ctx, "temp")
    _, report = await lifecycle.delete_agent(ctx, principal, "temp")
    assert report.agent_name == "temp"
