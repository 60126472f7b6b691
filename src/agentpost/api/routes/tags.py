"""An agent's tags: create, list, delete, put on and take off messages, list by tag.

Messages are named by UID and folder (default INBOX). Another agent's tag id answers 404
``tag_not_found``, exactly like an id that never existed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import Field

from agentpost.api.deps import AgentDep, CtxDep, FolderQuery, UidPath
from agentpost.api.schemas import ApiModel, OkPublic, UtcDatetime
from agentpost.domain.folders import INBOX
from agentpost.services import tags
from agentpost.storage.repositories.workflow import TagRecord

router = APIRouter(tags=["tags"])
TagIdPath = Annotated[str, Path(min_length=1, max_length=64, description="The tag's id.")]


class TagCreate(ApiModel):
    name: str = Field(min_length=1, max_length=tags.MAX_TAG_NAME)
    color: str | None = Field(default=None, description="Hex colour, default #888888.")


class TagPublic(ApiModel):
    id: str
    name: str
    color: str
    created_at: UtcDatetime


class TagsPublic(ApiModel):
    tags: list[TagPublic]


class TagMessageCreate(ApiModel):
    uid: int = Field(ge=1)
    folder: str = Field(default=INBOX, min_length=1, max_length=200)


class UntaggedPublic(ApiModel):
    ok: bool = True
    removed: bool


class TaggedMessagePublic(ApiModel):
    uid: int
    folder: str
    subject: str
    from_: str = Field(alias="from")
    date: UtcDatetime


class TagMessagesPublic(ApiModel):
    tag: TagPublic
    messages: list[TaggedMessagePublic]
    total: int


def tag_of(tag: TagRecord) -> TagPublic:
    return TagPublic(id=tag.id, name=tag.name, color=tag.color, created_at=tag.created_at)


@router.get("/tags")
async def list_tags(ctx: CtxDep, agent: AgentDep) -> TagsPublic:
    """The agent's tags, by name."""
    return TagsPublic(tags=[tag_of(t) for t in await tags.list_tags(ctx, agent)])


@router.post("/tags", status_code=status.HTTP_201_CREATED)
async def create_tag(ctx: CtxDep, agent: AgentDep, body: TagCreate) -> TagPublic:
    """A new tag; a name the agent already uses (ignoring case) is 409 ``tag_exists``."""
    return tag_of(await tags.create_tag(ctx, agent, body.name, body.color))


@router.delete("/tags/{tag_id}")
async def delete_tag(ctx: CtxDep, agent: AgentDep, tag_id: TagIdPath) -> OkPublic:
    """Delete a tag; it comes off every message that carried it."""
    await tags.delete_tag(ctx, agent, tag_id)
    return OkPublic()


@router.post("/tags/{tag_id}/messages")
async def tag_message(
    ctx: CtxDep, agent: AgentDep, tag_id: TagIdPath, body: TagMessageCreate
) -> OkPublic:
    """Put a tag on a message (doing it twice changes nothing)."""
    await tags.tag_message(ctx, agent, tag_id, body.uid, body.folder)
    return OkPublic()


@router.delete("/tags/{tag_id}/messages/{uid}")
async def untag_message(
    ctx: CtxDep, agent: AgentDep, tag_id: TagIdPath, uid: UidPath, folder: FolderQuery = INBOX
) -> UntaggedPublic:
    """Take a tag off a message; ``removed`` says whether it carried the tag."""
    return UntaggedPublic(removed=await tags.untag_message(ctx, agent, tag_id, uid, folder))


@router.get("/tags/{tag_id}/messages", response_model_by_alias=True)
async def tagged_messages(
    ctx: CtxDep,
    agent: AgentDep,
    tag_id: TagIdPath,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TagMessagesPublic:
    """Messages carrying a tag, most recently tagged first, with their current folder."""
    page = await tags.tagged_messages(ctx, agent, tag_id, limit=limit, offset=offset)
    return TagMessagesPublic(
        tag=tag_of(page.tag),
        messages=[
            TaggedMessagePublic(
                uid=m.uid, folder=m.folder, subject=m.subject, from_=m.from_addr, date=m.date
            )
            for m in page.messages
        ],
        total=page.total,
    )


@router.get("/messages/{uid}/tags")
async def message_tags(
    ctx: CtxDep, agent: AgentDep, uid: UidPath, folder: FolderQuery = INBOX
) -> TagsPublic:
    """The tags on one message."""
    return TagsPublic(tags=[tag_of(t) for t in await tags.message_tags(ctx, agent, uid, folder)])
