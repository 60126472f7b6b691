"""Storing copies of messages in agents' folders: UIDs, threads, index rows and quota.

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


@dataclass(frozen=True, slots=True)
class CopySpec:
    """One copy to store: which mailbox folder, which blob, and the parsed view."""

    agent_id: str
    folder: str
    blob_id: int
    size: int
    parsed: ParsedMessage
    received_at: datetime
    seen: bool
    direction: str


async def store_copies(
    conn: AsyncConnection, dialect: str, specs: list[CopySpec]
) -> list[StoredCopy]:
    """Store several copies with a handful of statements, whatever their number: one UID
    block per folder, one multi-row insert, one quota update per agent."""
    first_uid = await _reserve_uids(conn, specs)
    taken: dict[tuple[str, str], int] = {}
    rows: list[tuple[repo.NewMessage, search.SearchDocument]] = []
    for spec in specs:
        key = (spec.agent_id, spec.folder)
        folder_id, start = first_uid[key]
        uid = start + taken.get(key, 0)
        taken[key] = taken.get(key, 0) + 1
        thread_id = await _thread_id(conn, spec)
        rows.append((_new_message(spec, folder_id, uid, thread_id), _document(spec.parsed)))
    row_ids = await repo.insert_messages(conn, dialect, rows)
    used: dict[str, int] = {}
    for spec in specs:
        used[spec.agent_id] = used.get(spec.agent_id, 0) + spec.size
    for agent_id, size in sorted(used.items()):  # one lock order for every writer (PostgreSQL)
        await account_repo.add_used_bytes(conn, agent_id, size)
    return [
        StoredCopy(agent_id=spec.agent_id, folder=spec.folder, uid=new.uid, row_id=row_id)
        for spec, (new, _), row_id in zip(specs, rows, row_ids, strict=True)
    ]


async def _reserve_uids(
    conn: AsyncConnection, specs: list[CopySpec]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(agent, folder) → (folder id, first UID of the block reserved for its copies)."""
    counts: dict[tuple[str, str], int] = {}
    for spec in specs:
        counts[(spec.agent_id, spec.folder)] = counts.get((spec.agent_id, spec.folder), 0) + 1
    reserved = {}
    # Sorted by (agent id, name): the folder rows' lock order of every writer, moves included
    # (folder_repo.lock_folders), so none deadlocks with a store on PostgreSQL.
    for (agent_id, folder), count in sorted(counts.items()):
        block = await folder_repo.reserve_uids(conn, agent_id, folder, count)
        if block is None:
            raise FolderNotFound(f'folder "{folder}" does not exist')
        reserved[(agent_id, folder)] = block
    return reserved


async def _thread_id(conn: AsyncConnection, spec: CopySpec) -> str:
    parsed = spec.parsed
    parents = [*reversed(parsed.references)]
    if parsed.in_reply_to:
        parents.insert(0, parsed.in_reply_to)
    known = await repo.thread_of(conn, spec.agent_id, parents)
    if known:
        return known
    return (
        parsed.references[0] if parsed.references else parsed.message_id or f"blob-{spec.blob_id}"
    )


def _new_message(spec: CopySpec, folder_id: int, uid: int, thread_id: str) -> repo.NewMessage:
    parsed = spec.parsed
    return repo.NewMessage(
        agent_id=spec.agent_id,
        folder_id=folder_id,
        uid=uid,
        blob_id=spec.blob_id,
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
        received_at=spec.received_at,
        size=spec.size,
        seen=spec.seen,
        attachments=[a.to_dict() for a in parsed.attachments],
        preview=parsed.preview,
        direction=spec.direction,
    )


def _document(parsed: ParsedMessage) -> search.SearchDocument:
    return search.SearchDocument(
        from_text=f"{parsed.from_addr.name} {parsed.from_addr.address}",
        to_text=" ".join(f"{a.name} {a.address}" for a in [*parsed.to, *parsed.cc]),
        subject=parsed.subject,
        body=parsed.text or html_to_text(parsed.html),
    )
