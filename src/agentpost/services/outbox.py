"""Sending: validate, build, and store a message with its Sent copy and delivery rows.

One transaction holds the blob, the sender's Sent copy, a delivery row per recipient and the
local recipients' INBOX copies: a failure anywhere leaves none of them. External recipients
are recorded as ``queued`` for the delivery worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address, AddressError, dedupe, parse_address_list
from agentpost.domain.folders import SENT
from agentpost.domain.guard import Finding
from agentpost.domain.mime import (
    AttachmentInput,
    MimeError,
    OutgoingMessage,
    ParsedMessage,
    build_raw,
    new_message_id,
    normalize_message_id,
    split_references,
)
from agentpost.domain.templates import with_signature
from agentpost.errors import (
    AgentPostError,
    Forbidden,
    HeaderInjection,
    InvalidInput,
    PayloadTooLarge,
    RateLimited,
    ReplyLoop,
)
from agentpost.services import (
    audit,
    delivery,
    guard,
    loops,
    notices,
    offload,
    permissions,
    placement,
    relay_outbound,
)
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.inbox import mailbox_address, new_mail_event, parse_for_index
from agentpost.services.store import CopySpec, StoredCopy, store_copies
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import content as content_repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.repositories.content import SignatureRecord

MAX_RECIPIENTS = 100
QUEUED_NOTE = (
    "external recipients are queued: the message is stored and the delivery worker sends it "
    "through the owner's SMTP configuration, retrying temporary failures for up to two days; "
    "a permanent failure puts a bounce notice in your INBOX. Check progress with "
    "GET /api/v1/mail/messages/{uid}/delivery?folder=Sent (or read_email on the Sent copy)"
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
    # Append the agent's default signature (services/signatures.py), if it has one.
    signature: bool = True


# Runs inside a send's write transaction once everything is stored, with the new
# Message-ID; raising rolls the whole send back (scheduled sends mark themselves sent here).
Within = Callable[[AsyncConnection, str], Awaitable[None]]


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
    uid: int | None  # None when the guard held the message (nothing is in Sent yet)
    folder: str
    sender: str
    recipients: list[RecipientStatus]
    # The outbound guard: findings sent with a warning, or why and until when it is held.
    warnings: tuple[Finding, ...] = ()
    held: guard.HeldMail | None = None

    @property
    def status(self) -> str:
        if self.held is not None:
            return "held"
        if any(r.status == "queued" for r in self.recipients):
            return "queued"
        if all(r.status == "failed" for r in self.recipients):
            return "failed"
        return "delivered"

    @property
    def note(self) -> str | None:
        if self.held is not None:
            return HELD_NOTE
        return QUEUED_NOTE.format(uid=self.uid) if self.status == "queued" else None


HELD_NOTE = (
    "NOT sent: the outbound guard held this message for your owner's approval (see warnings). "
    "Tell your owner what you tried to send, to whom and why; only they can approve or reject "
    "it. manage_pending_emails (GET /api/v1/pending) shows its status and your reminders"
)


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


def render(
    ctx: AppContext,
    agent: AgentRecord,
    req: SendRequest,
    signature: SignatureRecord | None = None,
) -> tuple[bytes, list[Address]]:
    """Validate and build the raw message; returns it with the envelope recipients."""
    if signature is not None:
        text, html = with_signature(req.text, req.html, signature.text, signature.html or "")
        req = replace(req, text=text, html=html)
    out, envelope = _outgoing(agent, req)
    try:
        raw = build_raw(out, message_id=new_message_id(ctx.settings.domain), date=now_utc())
    except MimeError as exc:
        raise HeaderInjection(str(exc), field=exc.field) from exc
    if len(raw) > ctx.settings.max_message_bytes:
        raise PayloadTooLarge(
            f"the message is {len(raw)} bytes; the limit is {ctx.settings.max_message_bytes}"
        )
    return raw, envelope


async def submit_message(
    ctx: AppContext, agent: AgentRecord, req: SendRequest, *, within: Within | None = None
) -> SendResult:
    """Send ``req`` as ``agent``: Sent copy, local deliveries and queued external rows."""
    signature = None
    if req.signature:
        async with ctx.db.read() as conn:
            signature = await content_repo.default_signature(conn, agent.id)
    raw, envelope = render(ctx, agent, req, signature)
    return await store_outgoing(ctx, agent, raw, envelope, within=within)


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
    ctx: AppContext,
    agent: AgentRecord,
    raw: bytes,
    envelope: list[Address],
    *,
    within: Within | None = None,
    approval: Within | None = None,
) -> SendResult:
    """Store an already-built message (API send or SMTP submission) and deliver locally.

    Every send path ends here, so the checks below hold for all of them: the agent's
    permissions and limits, the outbound guard, delivery-time filtering of local copies, and
    one audit row whatever the outcome. When the guard holds the message it becomes a
    pending item instead (``within`` still runs: the send was dealt with). ``approval`` is
    the owner's release of a held message (services/pending.py): it replaces the guard and
    claims the pending item in this same transaction, so the message goes out exactly once.
    """
    now = now_utc()
    raw = loops.stamp(raw)  # SMTP submission brings client-built bytes (RFC 3834 headers)
    local = any(a.domain == ctx.settings.domain for a in envelope)
    parsed, findings, inspection = await offload.run_sized(len(raw), _examine, raw, now, local)
    held: guard.HeldMail | None = None
    try:
        async with ctx.db.write() as conn:
            grant = await permissions.authorize_send(ctx, conn, agent, envelope)
            if approval is not None:
                verdict = guard.Verdict()
                await approval(conn, parsed.message_id)
            else:
                verdict = await guard.decide(ctx, conn, agent, findings, envelope)
                if verdict.action == "hold":
                    held = await guard.hold(ctx, conn, agent, (raw, parsed), envelope, verdict)
                    if within is not None:
                        await within(conn, parsed.message_id)
                    return _held_result(agent, parsed.message_id, envelope, held)
            await permissions.count_send(conn, grant)
            await loops.check_and_log(ctx, conn, agent, parsed, envelope)
            raw, parsed = await relay_outbound.relay_sender(
                ctx, conn, agent, grant.config_id, envelope, (raw, parsed)
            )
            sent, copies, statuses = await _store(
                ctx, conn, agent, (raw, parsed, inspection), envelope, now, grant.config_id
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
            if within is not None:
                await within(conn, parsed.message_id)
    except (Forbidden, RateLimited) as exc:
        await _audit_refusal(ctx, agent, envelope, exc)
        if isinstance(exc, ReplyLoop):
            await loops.tell_owner(ctx, agent, exc)
        raise
    finally:
        if held is not None:  # after the commit: the owner's approval request goes out now
            ctx.events.publish(notices.wake_event())
    events = [new_mail_event(c, parsed.subject, agent.address, parsed.message_id) for c in copies]
    if any(s.kind == "external" and s.status == "queued" for s in statuses):
        events.append(delivery.queued_event())  # wakes the delivery workers
    ctx.events.publish_all(events)
    return SendResult(
        message_id=parsed.message_id,
        uid=sent.uid,
        folder=SENT,
        sender=agent.address,
        recipients=statuses,
        warnings=verdict.warnings,
    )


def _kind(agent: AgentRecord, rcpt: Address) -> str:
    return "local" if rcpt.domain == agent.address.rpartition("@")[2] else "external"


def _held_result(
    agent: AgentRecord, message_id: str, envelope: list[Address], held: guard.HeldMail
) -> SendResult:
    return SendResult(
        message_id=message_id,
        uid=None,
        folder="",
        sender=agent.address,
        recipients=[RecipientStatus(a.address, _kind(agent, a), "held") for a in envelope],
        warnings=held.findings,
        held=held,
    )


def _examine(
    raw: bytes, now: datetime, local: bool
) -> tuple[ParsedMessage, guard.Findings, placement.Inspection]:
    """The parse and the content checks of both directions, in one piece of CPU work. The
    inbound inspection is for local recipients' copies only: none, no inspection."""
    parsed = parse_for_index(raw, received=now)
    inspection = placement.inspect(raw, parsed, internal=True) if local else placement.Inspection()
    return parsed, guard.scan(raw, parsed), inspection


async def _store(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    message: tuple[bytes, ParsedMessage, placement.Inspection],
    envelope: list[Address],
    now: datetime,
    config_id: str | None = None,
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
        config_id=config_id,
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
