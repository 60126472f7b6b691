"""Idempotency keys: claim, conflict, in-progress, replay, release, stale takeover, and two
concurrent claims of one key (on PostgreSQL the second insert meets the unique key)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from agentpost.errors import IdempotencyConflict, IdempotencyInProgress
from agentpost.services import idempotency
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.tables.permissions import idempotency_keys

from .support import agent, send

pytestmark = pytest.mark.anyio


async def test_claim_replay_conflict_and_release(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    await agent(any_ctx, "bob")
    first = idempotency.fingerprint("send", {"to": "bob@localhost"})
    assert await idempotency.claim(any_ctx, alice.id, "k", first) is None
    with pytest.raises(IdempotencyInProgress):
        await idempotency.claim(any_ctx, alice.id, "k", first)
    with pytest.raises(IdempotencyConflict):
        await idempotency.claim(any_ctx, alice.id, "k", idempotency.fingerprint("send", {}))
    with idempotency.bound(alice.id, "k"):
        await send(any_ctx, alice, "bob@localhost")  # marks the key sent in its transaction
    await idempotency.complete(any_ctx, alice.id, "k", 200, {"uid": 1})
    replay = await idempotency.claim(any_ctx, alice.id, "k", first)
    assert replay == idempotency.Replay(200, {"uid": 1})
    assert await idempotency.claim(any_ctx, alice.id, "free", first) is None
    await idempotency.release(any_ctx, alice.id, "free")
    assert await idempotency.claim(any_ctx, alice.id, "free", first) is None


async def test_concurrent_claims_let_one_through(any_ctx: AppContext) -> None:
    alice = await agent(any_ctx, "alice")
    print_ = idempotency.fingerprint("send", {"n": 1})
    outcomes = await asyncio.gather(
        *(idempotency.claim(any_ctx, alice.id, "race", print_) for _ in range(4)),
        return_exceptions=True,
    )
    assert outcomes.count(None) == 1, outcomes
    assert all(isinstance(o, IdempotencyInProgress) for o in outcomes if o is not None)


async def test_a_stale_pending_claim_is_taken_over(ctx: AppContext) -> None:
    alice = await agent(ctx, "alice")
    print_ = idempotency.fingerprint("send", {})
    await idempotency.claim(ctx, alice.id, "old", print_)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(idempotency_keys).values(created_at=now_utc() - timedelta(minutes=10))
        )
    assert await idempotency.claim(ctx, alice.id, "old", print_) is None
