"""Approval by reply: an owner answers an approval request with APPROVE or REJECT.

The request's Reply-To is ``approvals+TOKEN@DOMAIN`` (services/notices.py); the SMTP
listener hands mail for such addresses here (smtp/approvals.py) instead of to a mailbox. A
reply is acted on only when all of these hold, checked in this order:

1. it is not an automatic message (RFC 3834 Auto-Submitted, bounces with a null sender,
   list mail): those are dropped without an answer, so two robots cannot loop;
2. the token belongs to an open held item (keyed hashes compared in constant time; a
   resolved item's token is cleared, so a reply works once);
3. the header From is one address, the owner's (case-insensitive), and so is the envelope
   sender;
4. when the operator trusts authserv-ids (``trusted_authserv_ids``), the topmost
   Authentication-Results header from one of them shows dmarc=pass or an aligned dkim=pass
   for the owner's domain;
5. the reply says APPROVE or REJECT (domain/guard/approval_reply.read_decision).

Then ``pending.approve`` (bound to the content hash the request showed) or ``pending.reject``
runs as the owner with ``by="owner-mail"``, and the owner gets a short confirmation. Anything
refused is audited as ``pending.reply_refused`` with the reason (never the token), nothing is
approved, and the owner is told why (except for automatic mail and unknown tokens, where
there is nobody trustworthy to tell).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.guard.approval_reply import (
    Decision,
    judge_authentication,
    read_decision,
    token_of,
)
from agentpost.domain.guard.notice_text import decision_notice, refusal_notice, syntax_notice
from agentpost.errors import AgentPostError, ApprovalMismatch, PendingResolved
from agentpost.services import audit, notices, pending
from agentpost.services.accounts import Principal, PrincipalKind, now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.storage.repositories import guard as guard_repo
from agentpost.storage.repositories import notices as notice_repo
from agentpost.storage.repositories.guard import PendingRecord

log = logging.getLogger(__name__)
BY = "owner-mail"


@dataclass(frozen=True, slots=True)
class ReplyMail:
    """What the checks need of a reply (read by smtp/approvals.py off the event loop)."""

    envelope_sender: str
    from_addresses: list[str]
    subject: str
    text: str
    authentication_results: list[str] = field(default_factory=list)
    automated: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one reply: ``approved``, ``rejected`` or ``refused`` with a reason."""

    result: str
    reason: str = ""
    pending_id: str | None = None


class _Refused(Exception):
    def __init__(self, reason: str, explanation: str) -> None:
        super().__init__(reason)
        self.reason, self.explanation = reason, explanation


@dataclass(slots=True)
class _Item:
    record: PendingRecord
    owner_email: str
    shown_hash: str | None


async def process_reply(ctx: AppContext, address: str, reply: ReplyMail) -> Outcome:
    """Act on one reply to ``address`` (an ``approvals+TOKEN`` address), or refuse it."""
    if reply.automated or not reply.envelope_sender:
        signs = ", ".join(reply.automated) or "null envelope sender"
        await _record_refusal(ctx, None, "automated_reply", reply, detail=signs)
        return Outcome("refused", "automated_reply")
    item = await _find(ctx, address)
    if item is None:
        await _record_refusal(ctx, None, "unknown_token", reply)
        return Outcome("refused", "unknown_token")
    try:
        decision = _verify(ctx, item, reply)
        return await _decide(ctx, item, decision)
    except _Refused as refused:
        await _record_refusal(ctx, item, refused.reason, reply, refused=refused)
        return Outcome("refused", refused.reason, item.record.id)


async def _find(ctx: AppContext, address: str) -> _Item | None:
    token = token_of(address)
    if token is None:
        return None
    digest = notices.token_hash(ctx, token)
    async with ctx.db.read() as conn:
        match = await notice_repo.token_match(conn, digest)
        if match is None or not hmac.compare_digest(match[1], digest):
            return None
        record = await guard_repo.get_pending(conn, match[0])
        if record is None:
            return None
        email = await guard_repo.owner_email(conn, record.owner_id) or ""
        shown = await notice_repo.approval_hash(conn, record.id)
    return _Item(record, email.strip(), shown)


def _verify(ctx: AppContext, item: _Item, reply: ReplyMail) -> Decision:
    owner = item.owner_email.lower()
    if len(reply.from_addresses) != 1:
        raise _Refused("sender_mismatch", "the reply's From must name exactly one address")
    claimed = reply.from_addresses[0].strip().lower()
    if not owner or claimed != owner:
        raise _Refused(
            "sender_mismatch",
            f"it came from {claimed[:200]}, not from the owner's address {item.owner_email}",
        )
    if reply.envelope_sender.strip().lower() != owner:
        raise _Refused(
            "envelope_mismatch",
            "its envelope sender (MAIL FROM) was not the owner's address",
        )
    trusted = ctx.settings.trusted_authserv_set
    problem = judge_authentication(reply.authentication_results, trusted, owner.rpartition("@")[2])
    if problem is not None:
        raise _Refused(
            problem.split(" ", 1)[0],
            f"the receiving server could not confirm it came from {item.owner_email} ({problem})",
        )
    decision = read_decision(reply.text, reply.subject)
    if decision is None:
        raise _Refused("no_decision", "it did not start with APPROVE or REJECT")
    if item.record.expires_at <= now_utc():
        raise _Refused(
            "expired", f"the held message expired at {item.record.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    return decision


async def _decide(ctx: AppContext, item: _Item, decision: Decision) -> Outcome:
    record = item.record
    owner = Principal(PrincipalKind.owner, record.owner_id)
    try:
        if decision is Decision.approve:
            if item.shown_hash is None:
                raise _Refused("content_changed", "no approval request was sent for this item")
            result = await pending.approve(
                ctx, owner, record.id, expected_hash=item.shown_hash, by=BY
            )
            sent = len(result.recipients)
            outcome = f"The message was released to {sent} recipient(s) and is being delivered."
            done = "approved"
        else:
            await pending.reject(ctx, owner, record.id, by=BY)
            outcome = "The message was discarded; it will not be sent."
            done = "rejected"
    except ApprovalMismatch as exc:
        raise _Refused("content_changed", exc.message) from exc
    except PendingResolved as exc:
        raise _Refused("already_resolved", exc.message) from exc
    except AgentPostError as exc:  # the agent is gone, or its permissions refuse the send
        raise _Refused("release_refused", exc.message) from exc
    subject, body = decision_notice(done, record.id, outcome)
    await _tell_owner(ctx, item, notices.NoticeDraft("decision", item.owner_email, subject, body))
    return Outcome(done, pending_id=record.id)


async def _tell_owner(ctx: AppContext, item: _Item, draft: notices.NoticeDraft) -> None:
    try:
        async with ctx.db.write() as conn:
            await _queue(ctx, conn, item, draft)
    except Exception as exc:
        # The decision is committed: a missing confirmation must not make the sending server
        # retry a reply whose token is now spent.
        log.error("could not queue the confirmation of a reply (%s)", type(exc).__name__)
        return
    ctx.events.publish(notices.wake_event())


async def _queue(
    ctx: AppContext, conn: AsyncConnection, item: _Item, draft: notices.NoticeDraft
) -> bool:
    email, _status = await notices.owner_reach(ctx, conn, item.record.owner_id)
    if not email:
        return False
    draft = notices.NoticeDraft(draft.kind, email, draft.subject, draft.body, item.record.id)
    await notices.queue_notice(ctx, conn, item.record.owner_id, draft)
    return True


async def _record_refusal(
    ctx: AppContext,
    item: _Item | None,
    reason: str,
    reply: ReplyMail,
    *,
    refused: _Refused | None = None,
    detail: str = "",
) -> None:
    """Audit a refused reply and, when there is an item, tell its owner why."""
    claimed = reply.from_addresses[0][:320] if reply.from_addresses else ""
    info: dict[str, Any] = {"reason": reason, "from": claimed}
    if detail:
        info["signs"] = detail
    record = item.record if item is not None else None
    if record is not None:
        info["pendingId"] = record.id
    entry = AuditEntry(
        "pending.reply_refused",
        status="refused",
        owner_id=record.owner_id if record else None,
        agent_id=record.agent_id if record else None,
        error=reason,
        detail=info,
    )
    async with ctx.db.write() as conn:
        await audit.record(ctx, conn, entry)
        if item is not None and refused is not None:
            if reason == "no_decision":
                subject, body = syntax_notice(item.record.id)
            else:
                subject, body = refusal_notice(item.record.id, refused.explanation)
            kind = "syntax" if reason == "no_decision" else "refusal"
            await _queue(ctx, conn, item, notices.NoticeDraft(kind, "", subject, body))
    log.info("refused a reply to an approval request: %s", reason)
    ctx.events.publish(notices.wake_event())
