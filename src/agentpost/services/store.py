"""Storing one copy of a message in one agent's folder: blob, UID, thread, index, quota.

Shared by inbound delivery, local delivery of sent mail and the Sent copy, so every copy is
indexed and accounted for the same way. Runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address
from agentpost.domain.mime import ParsedMessage, html_to_text
from agentpost.errors import FolderNotFound
from agentpost.storage import search
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import messages as repo


@dataclass(frozen=True, slots=True)
class StoredCopy:
    agent_id: str
    folder: str
    uid: int
    row_id: int


def _addr_list(items: list[Address]) -> list[dict[str, str]]:
    return [a.to_dict() for a in items]


async def store_copy(
    conn: AsyncConnection,
    dialect: str,
    *,
    agent_id: str,
    folder: str,
    blob_id: int,
    size: int,
    parsed: ParsedMessage,
    received_at: datetime,
    seen: bool,
    direction: str,
) -> StoredCopy:
    """Store one copy; the blob is already written (copies of one message share it)."""
    target = await folder_repo.folder_by_name(conn, agent_id, folder)
    if target is None:
        raise FolderNotFound(f'folder "{folder}" does not exist')
    uid = await folder_repo.allocate_uid(conn, target.id)
    parents = [*reversed(parsed.references)]
    if parsed.in_reply_to:
        parents.insert(0, parsed.in_reply_to)
    thread_id = await repo.thread_of(conn, agent_id, parents) or (
        parsed.references[0] if parsed.references else parsed.message_id or f"uid-{blob_id}"
    )
    row_id = await repo.insert_message(
        conn,
        dialect,
        repo.NewMessage(
            agent_id=agent_id,
            folder_id=target.id,
            uid=uid,
            blob_id=blob_id,
            message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
            thread_id=thread_id,
            subject=parsed.subject,
            from_addr=parsed.from_addr.address,
            from_name=parsed.from_addr.name,
            to_addrs=_addr_list(parsed.to),
            cc_addrs=_addr_list(parsed.cc),
            reply_to=_addr_list(parsed.reply_to),
            date=parsed.date,
            received_at=received_at,
            size=size,
            seen=seen,
            attachments=[a.to_dict() for a in parsed.attachments],
            preview=parsed.preview,
            direction=direction,
        ),
        search.SearchDocument(
            from_text=f"{parsed.from_addr.name} {parsed.from_addr.address}",
            to_text=" ".join(f"{a.name} {a.address}" for a in [*parsed.to, *parsed.cc]),
            subject=parsed.subject,
            body=parsed.text or html_to_text(parsed.html),
        ),
    )
    await account_repo.add_used_bytes(conn, agent_id, size)
    return StoredCopy(agent_id=agent_id, folder=folder, uid=uid, row_id=row_id)
