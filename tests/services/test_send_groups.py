"""Concurrent sends share transactions (group commit) on SQLite and PostgreSQL, and every rule
still holds per send: limits see the sends before them, a refused send leaves nothing and
does not disturb the others, a failing send is isolated, the audit chain stays whole."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from agentpost.errors import InvalidInput, RateLimited, ReplyLoop
from agentpost.services import mailbox, outbox
from agentpost.services.audit import list_audit, verify_chain
from agentpost.services.context import AppContext
from agentpost.services.store import StoredCopy, store_copies
from agentpost.storage.repositories.audit import AuditFilter
from agentpost.testing.factories import admin_principal

from .support import agent, send, table_counts

pytestmark = pytest.mark.anyio


def _record_group_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    write_group = outbox._write_group

    async def recording(ctx: AppContext, conn: Any, sends: Sequence[Any]) -> Any:
        sizes.append(len(sends))
        return await write_group(ctx, conn, sends)

    monkeypatch.setattr(outbox, "_write_group", recording)
    return sizes


async def test_concurrent_sends_are_grouped_and_each_is_judged_on_its_own(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 sends at once: external mail over the hourly limit of 7 is refused from the 8th on,
    mail to an unknown local agent is refused, mail to bob is delivered; every accepted send
    has its own Sent copy, UID and delivery rows, and the audit chain verifies."""
    any_ctx.settings = any_ctx.settings.model_copy(update={"default_hourly_send_limit": 7})
    alice = await agent(any_ctx, "alice")
    bob = await agent(any_ctx, "bob")
    sizes = _record_group_sizes(monkeypatch)
    targets = ["ext@example.com"] * 12 + ["nobody@localhost"] * 3 + ["bob@localhost"] * 5
    results = await asyncio.gather(
        *(send(any_ctx, alice, to, f"m{i}", text="hi") for i, to in enumerate(targets)),
        return_exceptions=True,
    )

    assert max(sizes) > 1, sizes  # sends really shared transactions
    assert sum(sizes) >= len(targets)
    by_target: dict[str, list[Any]] = {}
    for to, result in zip(targets, results, strict=True):
        by_target.setdefault(to, []).append(result)
    external = by_target["ext@example.com"]
    refused = [r for r in external if isinstance(r, RateLimited)]
    assert len(refused) == 5
    # The hour frees a slot when the oldest of the 7 sends turns one hour old, whether that
    # send was already logged or is one of the refused send's own group.
    assert all(r.retry_after is not None and 3500 < r.retry_after <= 3600 for r in refused)
    assert sum(isinstance(r, outbox.SendResult) for r in external) == 7
    assert all(r.status == "queued" for r in external if isinstance(r, outbox.SendResult))
    assert all(isinstance(r, InvalidInput) for r in by_target["nobody@localhost"])
    assert all(
        isinstance(r, outbox.SendResult) and r.status == "delivered"
        for r in by_target["bob@localhost"]
    )

    accepted = [r for r in results if isinstance(r, outbox.SendResult)]
    assert sorted(r.uid or 0 for r in accepted) == list(range(1, 13))  # distinct Sent UIDs
    assert len({r.message_id for r in accepted}) == 12
    inbox = await mailbox.list_folder(any_ctx, bob, "INBOX", limit=10, offset=0)
    assert sorted(m.uid for m in inbox.messages) == [1, 2, 3, 4, 5]
    counts = await table_counts(any_ctx)
    assert counts["messages"] == 12 + 5 and counts["message_blobs"] == 12
    assert counts["deliveries"] == 7 + 5

    admin = await admin_principal(any_ctx)
    assert (await verify_chain(any_ctx, admin)).ok
    sent = await list_audit(any_ctx, admin, AuditFilter(operation="send.accepted"))
    refusals = await list_audit(any_ctx, admin, AuditFilter(operation="send.refused"))
    assert (sent.total, refusals.total) == (12, 5)  # the unknown address is bad input, not policy


async def test_a_send_that_fails_while_stored_does_not_take_its_group_with_it(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while writing a group (here: storing the copies of one poisoned message)
    rolls the group back and retries its sends one by one: only the poisoned one fails, and
    nothing of it is left."""
    alice = await agent(any_ctx, "alice")
    sizes = _record_group_sizes(monkeypatch)

    async def poisoned_store_copies(conn: Any, dialect: str, specs: list[Any]) -> list[StoredCopy]:
        if any(s.parsed.subject == "poison" for s in specs):
            raise RuntimeError("disk on fire")
        return await store_copies(conn, dialect, specs)

    monkeypatch.setattr(outbox, "store_copies", poisoned_store_copies)
    subjects = [f"m{i}" for i in range(5)] + ["poison"] + [f"m{i}" for i in range(5, 10)]
    results = await asyncio.gather(
        *(send(any_ctx, alice, "ext@example.com", s, text="x") for s in subjects),
        return_exceptions=True,
    )

    assert max(sizes) > 1, sizes
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and "disk on fire" in str(failed[0])
    assert isinstance(results[subjects.index("poison")], RuntimeError)
    sent = await mailbox.list_folder(any_ctx, alice, "Sent", limit=20, offset=0)
    assert sorted(m.subject for m in sent.messages) == sorted(s for s in subjects if s != "poison")
    counts = await table_counts(any_ctx)
    assert (counts["messages"], counts["message_blobs"], counts["deliveries"]) == (10, 10, 10)


async def test_the_reply_budget_counts_the_groups_own_replies(
    any_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten replies in one thread sent at once, with a budget of three: three go out however
    the sends were grouped (the group's replies are logged together, after the checks)."""
    any_ctx.settings = any_ctx.settings.model_copy(update={"reply_loop_limit": 3})
    alice = await agent(any_ctx, "alice")
    sizes = _record_group_sizes(monkeypatch)
    root = "<root@example.com>"
    results = await asyncio.gather(
        *(
            send(any_ctx, alice, "ext@example.com", "Re: x", in_reply_to=root, references=root)
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert max(sizes) > 1, sizes
    assert sum(isinstance(r, outbox.SendResult) for r in results) == 3
    assert sum(isinstance(r, ReplyLoop) for r in results) == 7
