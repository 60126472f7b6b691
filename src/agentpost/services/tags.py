"""Tags: an agent's own labels, put on messages by hand (UID and folder) or by its rules.

A tag belongs to one agent; another agent's tag ids answer "not found". Tags stay on a
message when it moves between folders and go away with it when it is expunged.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.folders import canonical_folder
from agentpost.errors import FolderNotFound, InvalidInput, MessageNotFound, TagExists, TagNotFound
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.store import StoredCopy
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.repositories import workflow as repo
from agentpost.storage.repositories.workflow import TaggedMessage, TagRecord

DEFAULT_COLOR = "#888888"
MAX_TAG_NAME = 64
MAX_TAGS_PER_AGENT = 500
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


@dataclass(frozen=True, slots=True)
class TagPage:
    tag: TagRecord
    messages: list[TaggedMessage]
    total: int


def check_tag_name(name: object, field: str = "name") -> str:
    clean = name.strip() if isinstance(name, str) else ""
    if not clean:
        raise InvalidInput("a tag name is required", field=field)
    if len(clean) > MAX_TAG_NAME or any(ord(ch) < 32 for ch in clean):
        raise InvalidInput(
            f"a tag name is 1-{MAX_TAG_NAME} characters without control characters", field=field
        )
    return clean


def _check_color(color: str | None) -> str:
    if color is None:
        return DEFAULT_COLOR
    if not _COLOR.match(color.strip()):
        raise InvalidInput(f"color must be a hex colour like #ff8800; got {color!r}", field="color")
    return color.strip().lower()


async def list_tags(ctx: AppContext, agent: AgentRecord) -> list[TagRecord]:
    async with ctx.db.read() as conn:
        return await repo.list_tags(conn, agent.id)


async def create_tag(
    ctx: AppContext, agent: AgentRecord, name: str, color: str | None = None
) -> TagRecord:
    clean = check_tag_name(name)
    record = TagRecord(str(uuid.uuid4()), agent.id, clean, _check_color(color), now_utc())
    try:
        async with ctx.db.write() as conn:
            if await repo.tags_by_names(conn, agent.id, [clean]):
                raise TagExists(f'tag "{clean}" already exists; manage_tags list shows its id')
            if await repo.count_tags(conn, agent.id) >= MAX_TAGS_PER_AGENT:
                raise InvalidInput(
                    f"an agent has at most {MAX_TAGS_PER_AGENT} tags; delete one first",
                    field="name",
                )
            await repo.insert_tag(conn, record)
    except IntegrityError as exc:  # a concurrent create of the same name won
        raise TagExists(f'tag "{clean}" already exists') from exc
    return record


async def ensure_tags(conn: AsyncConnection, agent_id: str, names: list[str]) -> list[TagRecord]:
    """The agent's tags of these names, creating the missing ones (rules name tags)."""
    found = await repo.tags_by_names(conn, agent_id, names)
    known = {tag.name.lower() for tag in found}
    for name in names:
        if name.lower() not in known:
            record = TagRecord(str(uuid.uuid4()), agent_id, name, DEFAULT_COLOR, now_utc())
            await repo.insert_tag(conn, record)
            found.append(record)
            known.add(name.lower())
    return found


async def _tag(conn: AsyncConnection, agent: AgentRecord, tag_id: str) -> TagRecord:
    tag = await repo.tag_by_id(conn, agent.id, tag_id)
    if tag is None:
        raise TagNotFound(f"no tag with id {tag_id}; manage_tags list shows yours")
    return tag


async def delete_tag(ctx: AppContext, agent: AgentRecord, tag_id: str) -> None:
    async with ctx.db.write() as conn:
        if not await repo.delete_tag(conn, agent.id, tag_id):
            raise TagNotFound(f"no tag with id {tag_id}; manage_tags list shows yours")


async def tag_message(
    ctx: AppContext, agent: AgentRecord, tag_id: str, uid: int, folder: str = "INBOX"
) -> TagRecord:
    try:
        async with ctx.db.write() as conn:
            tag = await _tag(conn, agent, tag_id)
            message = await require_uid_in(conn, agent, uid, folder)
            await repo.link(conn, tag.id, message, now_utc())
    except IntegrityError:  # a concurrent identical call linked it first: the same outcome
        async with ctx.db.read() as conn:
            tag = await _tag(conn, agent, tag_id)
    return tag


async def untag_message(
    ctx: AppContext, agent: AgentRecord, tag_id: str, uid: int, folder: str = "INBOX"
) -> bool:
    """Remove a tag from a message; False if the message did not carry it."""
    async with ctx.db.write() as conn:
        tag = await _tag(conn, agent, tag_id)
        message = await require_uid_in(conn, agent, uid, folder)
        return await repo.unlink(conn, tag.id, message)


async def tagged_messages(
    ctx: AppContext, agent: AgentRecord, tag_id: str, *, limit: int = 50, offset: int = 0
) -> TagPage:
    async with ctx.db.read() as conn:
        tag = await _tag(conn, agent, tag_id)
        found, total = await repo.tagged_messages(conn, tag.id, limit=limit, offset=offset)
    return TagPage(tag, found, total)


async def message_tags(
    ctx: AppContext, agent: AgentRecord, uid: int, folder: str = "INBOX"
) -> list[TagRecord]:
    async with ctx.db.read() as conn:
        message = await require_uid_in(conn, agent, uid, folder)
        return await repo.tags_of_message(conn, message)


async def require_uid_in(conn: AsyncConnection, agent: AgentRecord, uid: int, folder: str) -> int:
    """The row id of the agent's message ``uid`` in ``folder`` (404 if there is none)."""
    target = await folder_repo.folder_by_name(conn, agent.id, canonical_folder(folder))
    if target is None:
        raise FolderNotFound(f'folder "{folder}" does not exist; list_folders shows yours')
    message = await message_repo.get_by_uid(conn, target.id, uid)
    if message is None:
        raise MessageNotFound(f"no message with UID {uid} in {target.name}")
    return message.id


async def tag_copy(
    ctx: AppContext, conn: AsyncConnection, copy: StoredCopy, names: list[str]
) -> None:
    """At delivery: put the rule's tags on a freshly stored copy (inside its transaction)."""
    if not names:
        return
    now = now_utc()
    for tag in await ensure_tags(conn, copy.agent_id, names):
        await repo.link(conn, tag.id, copy.row_id, now)
