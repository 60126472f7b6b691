"""Batch operations on up to 1000 UIDs of one folder. UIDs that are not there are skipped
and the answer counts what was actually done."""

from __future__ import annotations

from fastapi import APIRouter

from agentpost.api.deps import AgentDep, CtxDep
from agentpost.api.presenters import message_of
from agentpost.api.schemas import (
    BatchCreate,
    BatchDeletedPublic,
    BatchMarkedPublic,
    BatchMoveCreate,
    BatchMovedPublic,
    BatchReadPublic,
)
from agentpost.services import mailbox, trust

router = APIRouter(prefix="/mail/batch", tags=["batch"])


@router.post("/delete")
async def delete_batch(ctx: CtxDep, agent: AgentDep, body: BatchCreate) -> BatchDeletedPublic:
    """Move to Trash (from Trash: remove for good)."""
    hit = await mailbox.delete_messages(ctx, agent, list(body.uids), folder=body.folder)
    return BatchDeletedPublic(deleted=len(hit), uids=hit)


@router.post("/seen")
async def mark_batch_seen(ctx: CtxDep, agent: AgentDep, body: BatchCreate) -> BatchMarkedPublic:
    """Mark read."""
    hit = await mailbox.set_seen(ctx, agent, list(body.uids), seen=True, folder=body.folder)
    return BatchMarkedPublic(marked=len(hit))


@router.post("/unseen")
async def mark_batch_unseen(ctx: CtxDep, agent: AgentDep, body: BatchCreate) -> BatchMarkedPublic:
    """Mark unread."""
    hit = await mailbox.set_seen(ctx, agent, list(body.uids), seen=False, folder=body.folder)
    return BatchMarkedPublic(marked=len(hit))


@router.post("/move")
async def move_batch(ctx: CtxDep, agent: AgentDep, body: BatchMoveCreate) -> BatchMovedPublic:
    """Move to another folder; the answer maps each old UID to its new one."""
    moved = await mailbox.move_messages(
        ctx, agent, list(body.uids), source=body.from_, target=body.to
    )
    return BatchMovedPublic(moved=len(moved), uids={str(old): new for old, new in moved.items()})


@router.post("/read")
async def read_batch(ctx: CtxDep, agent: AgentDep, body: BatchCreate) -> BatchReadPublic:
    """Read several messages at once (without marking them seen), each sanitised and with
    its trust envelope, exactly as a single read."""
    views = await trust.read_many(ctx, agent, list(body.uids), folder=body.folder)
    return BatchReadPublic(messages=[message_of(v) for v in views], count=len(views))
