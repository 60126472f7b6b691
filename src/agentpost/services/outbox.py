"""Sending: validate, build, and store a message with its Sent copy and delivery rows.

One transaction holds the blob, the sender's Sent copy, a delivery row per recipient and the
local recipients' INBOX copies: a failure anywhere leaves none of them. External recipients
are recorded as ``queued`` for the delivery worker.

Sends that arrive together share that transaction (group commit, services/group_commit.py):
it first takes every advisory lock its sends' checks need, in the one order all writers keep
(services/send_locks.py), so groups in several processes wait for each other's locks
instead of deadlocking on them; then each send is checked and counted in turn, so limits see
the sends before it, then the group's messages are stored with one statement per table. A
refused send leaves nothing behind and does not disturb the others; any other failure
retries the group send by send.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
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
    build_with_view,
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
    idempotency,
    loops,
    notices,
    offload,
    permissions,
    placement,
    relay_outbound,
    send_locks,
    signatures,
)
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.group_commit import GroupCommit, on_running_loop
from agentpost.services.inbox import for_index, mailbox_address, new_mail_event, parse_for_index
from agentpost.services.store import CopySpec, StoredCopy, store_copies
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import messages as message_repo
from agentpost.storage.repositories.content import SignatureRecord
from agentpost.storage.repositories.scanning import ReplyLogEntry

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
) -> tuple[bytes, list[Address], ParsedMessage | None]:
    """Validate and build the raw message; returns it with the envelope recipients and, for
    the common message, its parsed view (``build_with_view``: no need to parse it again)."""
    if signature is not None:
        text, html = with_signature(req.text, req.html, signature.text, signature.html or "")
        req = replace(req, text=text, html=html)
    out, envelope = _outgoing(agent, req)
    try:
        raw, view = build_with_view(
            out, message_id=new_message_id(ctx.settings.domain), date=now_utc()
        )
    except MimeError as exc:
        raise HeaderInjection(str(exc), field=exc.field) from exc
    if len(raw) > ctx.settings.max_message_bytes:
        raise PayloadTooLarge(
            f"the message is {len(raw)} bytes; the limit is {ctx.settings.max_message_bytes}"
        )
    return raw, envelope, view


async def submit_message(
    ctx: AppContext, agent: AgentRecord, req: SendRequest, *, within: Within | None = None
) -> SendResult:
    """Send ``req`` as ``agent``: Sent copy, local deliveries and queued external rows."""
    signature = await signatures.default_for(ctx, agent.id) if req.signature else None
    raw, envelope, view = render(ctx, agent, req, signature)
    return await store_outgoing(ctx, agent, raw, envelope, within=within, view=view)


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


@dataclass(slots=True)
class _Send:
    """One send on its way to a (group) transaction: the message as examined, and how it
    must be written."""

    agent: AgentRecord
    raw: bytes
    parsed: ParsedMessage
    findings: guard.Findings
    inspection: placement.Inspection
    envelope: list[Address]
    now: datetime
    within: Within | None
    approval: Within | None
    binding: idempotency.Binding  # the request's Idempotency-Key, marked sent with it


@dataclass(slots=True)
class _Plan:
    """What the checks decided for a send; nothing of it is written yet."""

    grant: permissions.SendGrant
    verdict: guard.Verdict
    raw: bytes = b""  # as it goes out (the relay may rewrite the sender)
    parsed: ParsedMessage | None = None
    statuses: list[RecipientStatus] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # local agents that get a copy


@dataclass(slots=True)
class _Sent:
    """A send that went through its own writes; the group's batched store follows."""

    send: _Send
    plan: _Plan
    parsed: ParsedMessage


@dataclass(slots=True)
class _Held:
    """A send the guard held: kept as a pending item once the group's messages are stored."""

    send: _Send
    plan: _Plan


@dataclass(frozen=True, slots=True)
class _Done:
    """A committed send: the answer, and the events to publish for it."""

    result: SendResult
    events: list[Event]


async def store_outgoing(
    ctx: AppContext,
    agent: AgentRecord,
    raw: bytes,
    envelope: list[Address],
    *,
    within: Within | None = None,
    approval: Within | None = None,
    view: ParsedMessage | None = None,
) -> SendResult:
    """Store an already-built message (API send or SMTP submission) and deliver locally.

    Every send path ends here, so the checks below hold for all of them: the agent's
    permissions and limits, the outbound guard, delivery-time filtering of local copies, and
    one audit row whatever the outcome. When the guard holds the message it becomes a
    pending item instead (``within`` still runs: the send was dealt with). ``approval`` is
    the owner's release of a held message (services/pending.py): it replaces the guard and
    claims the pending item in this same transaction, so the message goes out exactly once.

    Concurrent sends share transactions (services/group_commit.py); one with ``within`` or
    ``approval`` gets its own, since those run code that is not this module's. ``view``:
    what parsing ``raw`` gives, when its builder knows (``render``).
    """
    send = await _prepared(ctx, agent, raw, envelope, within=within, approval=approval, view=view)
    alone = within is not None or approval is not None
    try:
        done = await _groups(ctx).submit(send, size=len(send.raw), alone=alone)
    except (Forbidden, RateLimited) as exc:
        await _audit_refusal(ctx, agent, envelope, exc)
        if isinstance(exc, ReplyLoop):
            await loops.tell_owner(ctx, agent, exc)
        raise
    ctx.events.publish_all(done.events)
    return done.result


async def _prepared(
    ctx: AppContext,
    agent: AgentRecord,
    raw: bytes,
    envelope: list[Address],
    *,
    within: Within | None = None,
    approval: Within | None = None,
    view: ParsedMessage | None = None,
) -> _Send:
    """The send as its transaction needs it: stamped, parsed and scanned (before any lock)."""
    now = now_utc()
    # SMTP submission brings client-built bytes: they get the RFC 3834 headers here. A view
    # comes only from our own builder (``render``), which writes them itself.
    stamped = raw if view is not None else loops.stamp(raw)
    local = any(a.domain == ctx.settings.domain for a in envelope)
    parsed, findings, inspection = await offload.run_sized(
        len(stamped), _examine, stamped, now, local, view
    )
    return _Send(
        agent, stamped, parsed, findings, inspection, envelope, now, within, approval,
        idempotency.binding(),
    )  # fmt: skip


def _groups(ctx: AppContext) -> GroupCommit[_Send, _Done]:
    """The context's group committer for sends, on the running event loop."""
    groups: GroupCommit[_Send, _Done] = on_running_loop(
        ctx.send_groups, ctx.db, functools.partial(_write_group, ctx)
    )
    ctx.send_groups = groups
    return groups


async def _write_group(
    ctx: AppContext, conn: AsyncConnection, sends: Sequence[_Send]
) -> list[_Done | BaseException]:
    """One group's transaction. A group of several first takes all its sends' locks. Each
    send in turn is checked, its limits and reply budget counting the group's earlier sends,
    then makes its own writes (its Idempotency-Key, the owner's claim); a refusal from the
    checks leaves nothing of that send and becomes its outcome. Then the sent messages are
    counted, stored and logged together, and last the held ones become pending items.

    The locks come in one order for every writer (PostgreSQL, services/send_locks.py): the
    sends' advisory locks, folder rows, agent rows (services/store.py), the audit chain."""
    reads = _Reads()
    # SQLite takes no advisory locks (its writers exclude each other): nothing to order.
    if len(sends) > 1 and not ctx.db.is_sqlite:
        await _lock_group(ctx, conn, sends, reads)
    outcomes: list[_Held | _Sent | BaseException] = []
    for send in sends:
        with idempotency.rebound(send.binding):
            try:
                plan = await _check(ctx, conn, send, reads)
            except AgentPostError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(await _apply(ctx, conn, send, plan, reads))
    await permissions.count_sends(conn, reads.permissions.unlogged)
    await loops.log_sends(ctx, conn, reads.reply_log)
    stored = iter(await _store(ctx, conn, [o for o in outcomes if isinstance(o, _Sent)]))
    # Held mail after the stores: guard.hold appends to the audit chain, and its lock taken
    # before this group's folder rows could deadlock with a writer that keeps the order.
    return [await _finish(ctx, conn, o, stored) for o in outcomes]


async def _lock_group(
    ctx: AppContext, conn: AsyncConnection, sends: Sequence[_Send], reads: _Reads
) -> None:
    """Take the advisory locks all the group's checks will need, sorted, before the first
    check. Taken send by send, the locks of [send via A, send via B] and of the same sends
    the other way round, in another process, would each wait for the other's (PostgreSQL
    breaks that only after deadlock_timeout, failing a group). A send that turns out to need
    a lock out of order fails the group into send-by-send (send_locks.LockOrderBroken)."""
    wanted: list[send_locks.SendLock] = []
    for send in sends:
        wanted += await permissions.planned_locks(
            ctx, conn, send.agent, send.envelope, reads.permissions
        )
    await send_locks.take_locks(ctx, conn, wanted, reads.permissions.locked)


async def _finish(
    ctx: AppContext,
    conn: AsyncConnection,
    outcome: _Held | _Sent | BaseException,
    stored: Iterator[_Done],
) -> _Done | BaseException:
    """A send's outcome once the group's messages are stored: held mail is kept now."""
    if isinstance(outcome, _Sent):
        return next(stored)
    if isinstance(outcome, _Held):
        return await _hold(ctx, conn, outcome)
    return outcome


@dataclass(slots=True)
class _Reads:
    """What the sends of one group read once: permissions, configurations, relay accounts."""

    permissions: permissions.Reads = field(default_factory=permissions.Reads)
    relay_accounts: relay_outbound.Accounts = field(default_factory=dict)
    # The group's sends so far, for the reply budget; logged with the group's rows.
    reply_log: list[ReplyLogEntry] = field(default_factory=list)


async def _check(ctx: AppContext, conn: AsyncConnection, send: _Send, reads: _Reads) -> _Plan:
    """Everything that may refuse the send, reading only: permissions and limits, the guard
    (unless the owner is releasing it), the reply-loop budget, the recipients."""
    grant = await permissions.authorize_send(
        ctx, conn, send.agent, send.envelope, reads.permissions
    )
    if send.approval is not None:
        verdict = guard.Verdict()
    else:
        verdict = await guard.decide(ctx, conn, send.agent, send.findings, send.envelope)
        if verdict.action == "hold":
            return _Plan(grant, verdict)
    await loops.check(ctx, conn, send.agent, send.parsed, send.envelope, reads.reply_log)
    raw, parsed = await relay_outbound.relay_sender(
        ctx,
        conn,
        send.agent,
        grant.config_id,
        send.envelope,
        (send.raw, send.parsed),
        reads.relay_accounts,
    )
    statuses, targets = await _route(ctx, conn, send.envelope, len(raw))
    return _Plan(grant, verdict, raw, parsed, statuses, targets)


async def _apply(
    ctx: AppContext, conn: AsyncConnection, send: _Send, plan: _Plan, reads: _Reads
) -> _Held | _Sent:
    """The send's own writes: its Idempotency-Key, then, unless it is held (kept after the
    group's stores, ``_hold``), the owner's claim (the limit and loop counters are the
    group's, written after its last send)."""
    await idempotency.bind_to_send(conn)
    agent = send.agent
    if plan.parsed is None:  # held for the owner's approval
        return _Held(send, plan)
    if send.approval is not None:
        await send.approval(conn, send.parsed.message_id)
    # Counted by the group's checks from here on; logged with the group's rows.
    reads.permissions.unlogged.append(plan.grant)
    reads.reply_log.append(loops.log_entry(agent, send.parsed, send.envelope))
    return _Sent(send, plan, plan.parsed)


async def _hold(ctx: AppContext, conn: AsyncConnection, item: _Held) -> _Done:
    """A held send becomes a pending item for the owner (and its ``within`` runs)."""
    send = item.send
    held = await guard.hold(
        ctx, conn, send.agent, (send.raw, send.parsed), send.envelope, item.plan.verdict
    )
    if send.within is not None:
        await send.within(conn, send.parsed.message_id)
    result = _held_result(send.agent, send.parsed.message_id, send.envelope, held)
    # After the commit, the owner's approval request goes out.
    return _Done(result, [notices.wake_event()])


async def _store(ctx: AppContext, conn: AsyncConnection, group: list[_Sent]) -> list[_Done]:
    """The sent messages of a group: blobs, Sent copies, local recipients' copies, delivery
    rows and audit rows, each kind in one statement; then each send's ``within``."""
    if not group:
        return []
    blob_ids = await message_repo.insert_blobs(conn, [s.plan.raw for s in group])
    specs: list[CopySpec] = []
    places: list[tuple[int, placement.Placement]] = []  # (position in group, placement)
    for position, (item, blob_id) in enumerate(zip(group, blob_ids, strict=True)):
        spec = functools.partial(
            CopySpec, blob_id=blob_id, size=len(item.plan.raw), parsed=item.parsed,
            received_at=item.send.now,
        )  # fmt: skip
        specs.append(spec(item.send.agent.id, SENT, seen=True, direction="out"))
        for target in item.plan.targets:
            place = await placement.place(ctx, conn, target, item.parsed, item.send.inspection)
            specs.append(spec(target, place.folder, seen=place.seen, direction="in"))
            places.append((position, place))
    stored = await store_copies(conn, ctx.db.dialect, specs)
    sent_copies = [c for c, s in zip(stored, specs, strict=True) if s.direction == "out"]
    local_copies = [c for c, s in zip(stored, specs, strict=True) if s.direction == "in"]
    await placement.after_store_many(
        ctx,
        conn,
        [
            (copy, place, group[position].send.inspection)
            for copy, (position, place) in zip(local_copies, places, strict=True)
        ],
    )
    await message_repo.insert_deliveries(
        conn,
        [
            message_repo.NewDeliveries(
                message_row_id=copy.row_id,
                agent_id=item.send.agent.id,
                items=[(s.address, s.kind, s.status) for s in item.plan.statuses],
                at=item.send.now,
                config_id=item.plan.grant.config_id,
            )
            for item, copy in zip(group, sent_copies, strict=True)
        ],
    )
    await audit.record_many(ctx, conn, [_accepted_entry(item) for item in group])
    done = []
    for position, (item, sent) in enumerate(zip(group, sent_copies, strict=True)):
        if item.send.within is not None:
            await item.send.within(conn, item.parsed.message_id)
        copies = [local_copies[i] for i, (p, _) in enumerate(places) if p == position]
        done.append(_done(item, sent, copies))
    return done


def _accepted_entry(item: _Sent) -> AuditEntry:
    agent = item.send.agent
    return AuditEntry(
        "send.accepted",
        owner_id=agent.owner_id,
        agent_id=agent.id,
        config_id=item.plan.grant.config_id,
        recipients=len(item.send.envelope),
    )


def _done(item: _Sent, sent: StoredCopy, copies: list[StoredCopy]) -> _Done:
    parsed, statuses = item.parsed, item.plan.statuses
    sender = item.send.agent.address
    events = [new_mail_event(c, parsed.subject, sender, parsed.message_id) for c in copies]
    if any(s.kind == "external" and s.status == "queued" for s in statuses):
        events.append(delivery.queued_event())  # wakes the delivery workers
    result = SendResult(
        message_id=parsed.message_id,
        uid=sent.uid,
        folder=SENT,
        sender=sender,
        recipients=statuses,
        warnings=item.plan.verdict.warnings,
    )
    return _Done(result, events)


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
    raw: bytes, now: datetime, local: bool, view: ParsedMessage | None
) -> tuple[ParsedMessage, guard.Findings, placement.Inspection]:
    """The parse (unless ``view`` is it) and the content checks of both directions, in one
    piece of CPU work. The inbound inspection is for local recipients' copies only: none, no
    inspection."""
    parsed = for_index(view) if view is not None else parse_for_index(raw, received=now)
    inspection = placement.inspect(raw, parsed, internal=True) if local else placement.Inspection()
    return parsed, guard.scan(raw, parsed), inspection


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
