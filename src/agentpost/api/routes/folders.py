"""An agent's folders: list them with counts, create one, page through one."""

from __future__ import annotations

from fastapi import APIRouter, status

from agentpost.api.deps import AgentDep, CtxDep, LimitQuery, OffsetQuery
from agentpost.api.presenters import page_of
from agentpost.api.schemas import (
    FolderCreate,
    FolderCreatedPublic,
    FolderPublic,
    FoldersPublic,
    PagePublic,
)
from agentpost.services import mailbox

router = APIRouter(prefix="/mail/folders", tags=["folders"])


@router.get("")
async def list_folders(ctx: CtxDep, agent: AgentDep) -> FoldersPublic:
    """Every folder with its message and unread counts."""
    found = await mailbox.list_folders(ctx, agent)
    return FoldersPublic(
        folders=[
            FolderPublic(
                name=f.name, path=f.name, special_use=f.special_use, total=f.total, unseen=f.unseen
            )
            for f in found
        ]
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_folder(ctx: CtxDep, agent: AgentDep, body: FolderCreate) -> FolderCreatedPublic:
    """Create a folder; "/" separates levels. A name taken (in any case) answers 409."""
    created = await mailbox.create_folder(ctx, agent, body.name)
    return FolderCreatedPublic(folder=created.name)


@router.get("/{folder:path}")
async def list_folder(
    ctx: CtxDep, agent: AgentDep, folder: str, limit: LimitQuery = 20, offset: OffsetQuery = 0
) -> PagePublic:
    """One folder, newest first (URL-encode "/" in nested names or leave it as is)."""
    return page_of(await mailbox.list_folder(ctx, agent, folder, limit=limit, offset=offset))
