"""manage_spam: list the Spam folder, report a message as spam or not, show its score.

Reporting moves the copy and remembers the sender for this agent, in one transaction, so
mail from that sender lands in Spam (or stays out of it) at delivery from then on
(services/placement.py reads the reports). The score comes from the scan stored at delivery.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import normalize
from agentpost.domain.folders import INBOX, SPAM, canonical_folder
from agentpost.domain.scanning import ScanReport, scan, scan_input
from agentpost.errors import FolderNotFound, InvalidInput, MessageNotFound
from agentpost.services import mailbox, placement
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord, FolderRecord, MessageRecord
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.repositories import scanning as scan_repo


@dataclass(frozen=True, slots=True)
class Reported:
    uid: int  # the message's UID in the folder it is in now
    folder: str
    sender: str
    moved: bool


@dataclass(frozen=True, slots=True)
class SpamScore:
    uid: int
    folder: str
    report: ScanReport
    verdict: str
    internal: bool


async def list_spam(
    ctx: AppContext, agent: AgentRecord, *, limit: int, offset: int
) -> mailbox.Page:
    return await mailbox.list_folder(ctx, agent, SPAM, limit=limit, offset=offset)


async def report_spam(
    ctx: AppContext, agent: AgentRecord, uid: int, folder: str = INBOX
) -> Reported:
    """Move the message to Spam and treat its sender as spam from now on."""
    return await _judge(ctx, agent, uid, folder, SPAM, "spam")


async def report_not_spam(
    ctx: AppContext, agent: AgentRecord, uid: int, folder: str = SPAM
) -> Reported:
    """Move the message back to INBOX and never file its sender as spam again."""
    return await _judge(ctx, agent, uid, folder, INBOX, "ham")


async def _judge(
    ctx: AppContext, agent: AgentRecord, uid: int, source: str, target: str, verdict: str
) -> Reported:
    async with ctx.db.write() as conn:
        src, dst = await _folder(conn, agent, source), await _folder(conn, agent, target)
        moving = src.id != dst.id
        if moving:  # before the message is read: no other move can take it elsewhere now
            await folder_repo.lock_folders(conn, [src.id, dst.id])
        record = await _in_folder(conn, src, uid)
        sender = normalize(record.from_addr)
        if not sender:
            raise InvalidInput("this message has no sender address to remember", field="uid")
        new_uid = record.uid
        if moving:
            new_uid = await folder_repo.allocate_uid(conn, dst.id)
            await message_repo.move(conn, record.id, dst.id, new_uid)
        await scan_repo.save_sender_verdict(conn, agent.id, sender, verdict, now_utc())
        await scan_repo.set_verdict(conn, record.id, verdict)
    placement.forget_sender_verdicts(ctx, agent.id)
    return Reported(uid=new_uid, folder=target, sender=sender, moved=moving)


async def spam_score(
    ctx: AppContext, agent: AgentRecord, uid: int, folder: str = INBOX
) -> SpamScore:
    async with ctx.db.read() as conn:
        record = await _load(conn, agent, uid, folder)
        stored = await scan_repo.scan_of(conn, record.id)
        raw = None if stored else await message_repo.read_blob(conn, record.blob_id)
    if stored is not None:
        report = ScanReport.from_dict(stored.report)
        return SpamScore(record.uid, record.folder, report, stored.verdict, stored.internal)
    view = await mailbox.read_message(ctx, agent, uid, folder)
    internal = record.direction == "out"
    report = await asyncio.to_thread(scan, scan_input(raw or b"", view.parsed, internal=internal))
    verdict = "spam" if report.is_spam else "warning" if report.is_warning else "ham"
    return SpamScore(record.uid, record.folder, report, verdict, internal)


async def _folder(conn: AsyncConnection, agent: AgentRecord, name: str) -> FolderRecord:
    found = await folder_repo.folder_by_name(conn, agent.id, canonical_folder(name))
    if found is None:
        raise FolderNotFound(f'folder "{name}" does not exist; list_folders shows yours')
    return found


async def _load(conn: AsyncConnection, agent: AgentRecord, uid: int, folder: str) -> MessageRecord:
    return await _in_folder(conn, await _folder(conn, agent, folder), uid)


async def _in_folder(conn: AsyncConnection, folder: FolderRecord, uid: int) -> MessageRecord:
    record = await message_repo.get_by_uid(conn, folder.id, uid)
    if record is None:
        raise MessageNotFound(f"no message with UID {uid} in {folder.name}")
    return record
