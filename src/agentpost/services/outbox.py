"""Sending: validate, build, and store a message with its Sent copy and delivery rows.

One transaction holds the blob, the sender's Sent copy, a delivery row per recipient and the
local recipients' INBOX copies: a failure anywhere leaves none of them. External recipients
are recorded as ``queued`` for the delivery worker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address, AddressError, dedupe, parse_address_list
from agentpost.domain.folders import SENT
from agentpost.domain.mime import (
    AttachmentInput,
    MimeError,
    OutgoingMessage,
    ParsedMessage,
    build_message,
    new_message_id,
    normalize_message_id,
    split_references,
)
from agentpost.errors import (
    AgentPostError,
    Forbidden,
    HeaderInjection,
    InvalidInput,
    PayloadTooLarge,
    RateLimited,
)
from agentpost.services import audit, guard, permissions, placement
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.inbox import mailbox_address, new_mail_event, parse_for_index
from agentpost.services.store import CopySpec, StoredCopy, store_copies
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import messages as message_repo

MAX_RECIPIENTS = 100
QUEUED_NOTE = (
    "external recipients are queued: this server stores them for the delivery worker, "
    "which sends once an SMTP configuration is set up"
)


@dataclass(frozen=True, slots=True)
class SendRequest:
    to: str | list[str]
    subject: str
    text: str = ""
    html: str = ""
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    reply_to: str | list[str] | None = None
    in_reply_to: str | None = None
    references: str | list[str] | None = None
    attachments: list[AttachmentInput] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    address: str
    kind: str  # local | external
    status: str  # delivered | queued | failed
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"address": self.address, "kind": self.kind, "status": self.status}
        if self.error:
            data["error"] = self.error
        return data


@dataclass(frozen=True, slots=True)
class SendResult:
    message_id: str
    uid: int
    folder: str
    sender: str
    recipients: list[RecipientStatus]

    @property
    def status(self) -> str:
        if any(r.status == "queued" for r in self.recipients):
            return "queued"
        if all(r.status == "failed" for r in self.recipients):
            return "failed"
        return "delivered"

    @property
    def note(self) -> str | None:
        return QUEUED_NOTE if self.status == "queued" else None


def _addresses(value: str | list[str] | None, name: str) -> list[Address]:
    try:
        return parse_address_list(value, field=name)
    except AddressError as exc:
        raise InvalidInput(str(exc), field=name) from exc


def display_name(agent: AgentRecord) -> str:
    configured = agent.metadata.get("displayName")
    return configured if isinstance(configured, str) and configured.strip() else agent.name


def _outgoing(agent: AgentRecord, req: SendRequest) -> tuple[OutgoingMessage, list[Address]]:
    to = _addresses(req.to, "to")
    cc = _addresses(req.cc, "cc")
    bcc = _addresses(req.bcc, "bcc")
    if not to:
        raise InvalidInput("to must name at least one recipient", field="to")
    if not isinstance(req.subject, str) or not req.subject.strip():
        raise InvalidInput("subject is required", field="subject")
    envelope = dedupe([*to, *cc, *bcc])
    if len(envelope) > MAX_RECIPIENTS:
        raise InvalidInput(f"at most {MAX_RECIPIENTS} recipients per message", field="to")
    in_reply_to = req.in_reply_to and normalize_message_id(req.in_reply_to)
    if req.in_reply_to and not in_reply_to:
        raise InvalidInput("inReplyTo must be a Message-ID such as <id@host>", field="inReplyTo")
    out = OutgoingMessage(
        sender=Address(address=agent.address, name=display_name(agent)),
        to=to,
        cc=cc,
        reply_to=_addresses(req.reply_to, "replyTo"),
        subject=req.subject,
        text=req.text or "",
        html=req.html or "",
        in_reply_to=in_reply_to or None,
        references=split_references(req.references),
        attachments=list(req.attachments),
    )
    return out, envelope


def render(ctx: AppContext, agent: AgentRecord, req: SendRequest) -> tuple[bytes, list[Address]]:
    """Validate and build the raw message; returns it with the envelope recipients."""
    out, envelope = _outgoing(agent, req)
    try:
        msg = build_message(out, message_id=new_message_id(ctx.settings.domain), date=now_utc())
    except MimeError as exc:
        raise HeaderInjection(str(exc), field=exc.field) from exc
    raw = msg.as_bytes(policy=policy.SMTP)
    if len(raw) > ctx.settings.max_message_bytes:
        raise PayloadTooLarge(
            f"the message is {len(raw)} bytes; the limit is {ctx.settings.max_message_bytes}"
        )
    return raw, envelope


async def submit_message(ctx: AppContext, agent: AgentRecord, req: SendRequest) -> SendResult:
    """Send ``req`` as ``agent``: Sent copy, local deliveries and queued external rows."""
    raw, envelope = render(ctx, agent, req)
    return await store_outgoing(ctx, agent, raw, envelope)


async def _route(
    ctx: AppContext, conn: AsyncConnection, envelope: list[Address], size: int
) -> tuple[list[RecipientStatus], list[str]]:
    """Each recipient's fate, and the local agents (ids, once each) that get a copy.

    An unknown local recipient refuses the whole send: nothing is written.
    """
    local_domain = ctx.settings.domain
    locals_ = [mailbox_address(a.address) for a in envelope if a.domain == local_domain]
    found = {a.address: a for a in await account_repo.agents_by_addresses(conn, locals_)}
    statuses: list[RecipientStatus] = []
    targets: list[str] = []  # bob@ and bob+tag@ reach one mailbox: one copy
    for rcpt in envelope:
        if rcpt.domain != local_domain:
            statuses.append(RecipientStatus(rcpt.address, "external", "queued"))
            continue
        target = found.get(mailbox_address(rcpt.address))
        if target is None:
            raise InvalidInput(
                f"{rcpt.address} is not an agent on this server; list_agents shows them",
                field="to",
            )
        if target.used_bytes + size > ctx.settings.mailbox_quota_bytes:
            statuses.append(RecipientStatus(rcpt.address, "local", "failed", "mailbox full"))
            continue
        if target.id not in targets:
            targets.append(target.id)
        statuses.append(RecipientStatus(rcpt.address, "local", "delivered"))
    return statuses, targets


async def store_outgoing(
    ctx: AppContext, agent: AgentRecord, raw: bytes, envelope: list[Address]
) -> SendResult:
    """Store an already-built message (API send or SMTP submission) and deliver locally.

    Every send path ends here, so the checks below hold for all of them: the agent's
    permissions and limits, the outbound guard, delivery-time filtering of local copies, and
    one audit row whatever the outcome.
    """
    now = now_utc()
    parsed = await asyncio.to_thread(parse_for_index, raw, received=now)
    findings, inspection = await asyncio.to_thread(_inspect, raw, parsed)
    try:
        async with ctx.db.write() as conn:
            grant = await permissions.authorize_send(ctx, conn, agent, envelope)
            await guard.decide(ctx, conn, agent, findings, envelope)
            sent, copies, statuses = await _store(
                ctx, conn, agent, (raw, parsed, inspection), envelope, now
            )
            await audit.record(
                ctx,
                conn,
                AuditEntry(
                    "send.accepted",
                    owner_id=agent.owner_id,
                    agent_id=agent.id,
                    config_id=grant.config_id,
                    recipients=len(envelope),
                ),
            )
    except (Forbidden, RateLimited) as exc:
        await _audit_refusal(ctx, agent, envelope, exc)
        raise
    ctx.events.publish_all(
        [new_mail_event(c, parsed.subject, agent.address, parsed.message_id) for c in copies]
    )
    return SendResult(
        message_id=parsed.message_id,
        uid=sent.uid,
        folder=SENT,
        sender=agent.address,
        recipients=statuses,
    )


def _inspect(raw: bytes, parsed: ParsedMessage) -> tuple[guard.Findings, placement.Inspection]:
    """The content checks of both directions, in one trip to a worker thread."""
    return guard.scan(raw, parsed), placement.inspect(raw, parsed)


async def _store(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    message: tuple[bytes, ParsedMessage, placement.Inspection],
    envelope: list[Address],
    now: datetime,
) -> tuple[StoredCopy, list[StoredCopy], list[RecipientStatus]]:
    """The blob, the Sent copy, local recipients' copies and the delivery rows."""
    raw, parsed, inspection = message
    blob_id = await message_repo.insert_blob(conn, raw)
    statuses, targets = await _route(ctx, conn, envelope, len(raw))
    places = [await placement.place(ctx, conn, t, parsed, inspection) for t in targets]

    def spec(agent_id: str, folder: str, seen: bool, direction: str) -> CopySpec:
        return CopySpec(agent_id, folder, blob_id, len(raw), parsed, now, seen, direction)

    # The Sent copy and every local recipient's copy: one batched store.
    stored = await store_copies(
        conn,
        ctx.db.dialect,
        [spec(agent.id, SENT, True, "out")]
        + [spec(t, p.folder, p.seen, "in") for t, p in zip(targets, places, strict=True)],
    )
    sent, copies = stored[0], stored[1:]
    for copy, place in zip(copies, places, strict=True):
        await placement.after_store(ctx, conn, copy, place, inspection)
    await message_repo.insert_deliveries(
        conn,
        message_row_id=sent.row_id,
        agent_id=agent.id,
        items=[(s.address, s.kind, s.status) for s in statuses],
        now=now,
    )
    return sent, copies, statuses


async def _audit_refusal(
    ctx: AppContext, agent: AgentRecord, envelope: list[Address], exc: AgentPostError
) -> None:
    # The send's own transaction was rolled back; the refusal is recorded on its own.
    await audit.record_now(
        ctx,
        AuditEntry(
            "send.refused",
            status="refused",
            owner_id=agent.owner_id,
            agent_id=agent.id,
            recipients=len(envelope),
            error=f"{exc.code}: {exc.message}",
        ),
    )
