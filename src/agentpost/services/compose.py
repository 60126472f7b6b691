"""Reply and forward: new messages built from a stored original and sent through the outbox.

The original is read from the calling agent's own mailbox, so a foreign UID is simply not
found. Threading follows RFC 5322 §3.6.4: In-Reply-To is the parent's Message-ID and
References the parent's chain plus that id. Both go through ``outbox.submit_message`` like any
other send, with the same validation, limits and delivery rows. Afterwards the original is
flagged ``\\Answered`` (RFC 3501 §2.3.2) or ``$Forwarded`` (RFC 5788 keyword registry).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agentpost.domain.addresses import Address, dedupe, normalize
from agentpost.domain.folders import INBOX
from agentpost.domain.mime import (
    AttachmentInput,
    ParsedMessage,
    html_to_text,
    iter_attachments,
    parse_message,
)
from agentpost.domain.threads import (
    forward_body,
    forward_subject,
    quote_reply,
    reply_references,
    reply_subject,
)
from agentpost.errors import InvalidInput
from agentpost.services import mailbox, outbox
from agentpost.services.context import AppContext
from agentpost.services.outbox import SendRequest, SendResult
from agentpost.storage.records import AgentRecord, MessageRecord
from agentpost.storage.repositories import messages as message_repo

ANSWERED = "\\Answered"
FORWARDED = "$Forwarded"


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    text: str
    html: str = ""
    reply_all: bool = False
    folder: str = INBOX


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    to: str | list[str]
    text: str = ""
    cc: str | list[str] | None = None
    folder: str = INBOX


async def reply_message(
    ctx: AppContext, agent: AgentRecord, uid: int, req: ReplyRequest
) -> SendResult:
    """Reply to message ``uid`` of ``req.folder``; the original gets the \\Answered flag."""
    view = await mailbox.read_message(ctx, agent, uid, req.folder)
    result = await outbox.submit_message(ctx, agent, build_reply(agent, view.parsed, req))
    await _add_flag(ctx, view.record, ANSWERED)
    return result


async def forward_message(
    ctx: AppContext, agent: AgentRecord, uid: int, req: ForwardRequest
) -> SendResult:
    """Forward message ``uid`` with its attachments, decoded from the stored raw message."""
    record = await mailbox.require_uid(ctx, agent, uid, req.folder)
    raw = await mailbox.read_raw(ctx, agent, uid, req.folder)
    parsed = await asyncio.to_thread(parse_message, raw, fallback_date=record.date)
    attachments = await asyncio.to_thread(original_attachments, raw)
    result = await outbox.submit_message(ctx, agent, build_forward(parsed, attachments, req))
    await _add_flag(ctx, record, FORWARDED)
    return result


def _is_self(address: Address, agent: AgentRecord) -> bool:
    # name+tag@domain reaches the same mailbox (see inbox.check_recipient).
    local, _, domain = normalize(address.address).rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" == normalize(agent.address)


def reply_recipients(
    agent: AgentRecord, original: ParsedMessage, *, reply_all: bool
) -> tuple[list[Address], list[Address]]:
    """(to, cc) of a reply. Reply-To wins over From (RFC 5322 §3.6.3); replying to one's own
    sent mail goes back to its recipients; reply-all never includes the agent itself."""
    if original.reply_to:
        primary = list(original.reply_to)
    elif _is_self(original.from_addr, agent):
        primary = list(original.to)
    else:
        primary = [original.from_addr]
    primary = [a for a in primary if a.address]
    if not reply_all:
        return dedupe(primary), []
    to = dedupe([a for a in [*primary, *original.to] if a.address and not _is_self(a, agent)])
    taken = {normalize(a.address) for a in to}
    cc = dedupe([a for a in original.cc if not _is_self(a, agent)], exclude=taken)
    return to, cc


def build_reply(agent: AgentRecord, original: ParsedMessage, req: ReplyRequest) -> SendRequest:
    to, cc = reply_recipients(agent, original, reply_all=req.reply_all)
    if not to:
        raise InvalidInput("the original message has no address to reply to", field="uid")
    quoted = original.text or html_to_text(original.html)
    return SendRequest(
        to=[a.formatted() for a in to],
        cc=[a.formatted() for a in cc] or None,
        subject=reply_subject(original.subject),
        text=quote_reply(req.text, quoted, original.from_addr.formatted(), original.date),
        html=req.html,
        in_reply_to=original.message_id or None,
        references=reply_references(original.message_id, original.references, original.in_reply_to),
    )


def build_forward(
    original: ParsedMessage, attachments: list[AttachmentInput], req: ForwardRequest
) -> SendRequest:
    body = forward_body(
        req.text,
        original_from=original.from_addr.formatted(),
        original_to=", ".join(a.formatted() for a in original.to),
        original_date=original.date,
        subject=original.subject,
        text=original.text or html_to_text(original.html),
    )
    return SendRequest(
        to=req.to,
        cc=req.cc,
        subject=forward_subject(original.subject),
        text=body,
        attachments=attachments,
    )


def _safe_filename(name: str) -> str:
    # A hostile sender can smuggle CR/LF into a filename (RFC 2231 encoding); it must not
    # become a header-injection error when the agent forwards the message.
    return "".join(ch if ch.isprintable() else "_" for ch in name) or "unnamed"


def original_attachments(raw: bytes) -> list[AttachmentInput]:
    """Every attachment of a raw message, decoded, in parse order (one parse)."""
    return [
        AttachmentInput(_safe_filename(info.filename), content, info.content_type)
        for info, content in iter_attachments(raw)
    ]


async def _add_flag(ctx: AppContext, record: MessageRecord, flag: str) -> None:
    async with ctx.db.write() as conn:
        # Re-read: the message may have been moved or deleted while the reply was sent.
        current = await message_repo.get_by_uid(conn, record.folder_id, record.uid)
        if current is None or current.id != record.id or flag in current.flags:
            return
        await message_repo.set_flags(conn, current.id, [*current.flags, flag])
