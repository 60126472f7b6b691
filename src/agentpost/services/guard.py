"""The outbound guard: what a message would leak, and whether it may leave.

``scan`` runs before the send's write transaction and off the event loop (pure content
checks over subject, bodies, attachment names and text attachments; domain/guard/).
``decide`` runs inside it, where the recipients' classes (the owner, other agents, contacts,
strangers) and the agent's policy are known; every recipient counts, cc and bcc included.
``hold`` turns a held send into a pending item for the owner (services/pending.py has the
rest of its life). Findings carry rule ids and descriptions, never the matched text.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address
from agentpost.domain.guard import ATTACHMENT_RULES, TEXT_RULES, AttachmentText, Finding
from agentpost.domain.guard import scan_parts as scan_content
from agentpost.domain.guard.policy import (
    Action,
    GuardPolicy,
    PolicyError,
    RecipientClass,
    action_for,
    parse_policy,
)
from agentpost.domain.guard.reminders import next_after
from agentpost.domain.mime import ParsedMessage, iter_attachments
from agentpost.errors import InvalidInput
from agentpost.services import approval_notice, audit
from agentpost.services.accounts import Principal, find_agent, now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import content as content_repo
from agentpost.storage.repositories import guard as repo

RULE_IDS = frozenset([r.id for r in TEXT_RULES] + [r[0] for r in ATTACHMENT_RULES])


@dataclass(frozen=True, slots=True)
class Findings:
    """What the content rules matched (never the matched text itself)."""

    items: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action = Action.allow
    warnings: tuple[Finding, ...] = field(default_factory=tuple)
    classes: tuple[RecipientClass, ...] = ()


@dataclass(frozen=True, slots=True)
class HeldMail:
    """What the agent learns about its held message: never the matched text."""

    pending_id: str
    findings: tuple[Finding, ...]
    expires_at: datetime
    remind_at: datetime | None


def scan(raw: bytes, parsed: ParsedMessage) -> Findings:
    """Content rules over subject, bodies and attachments. CPU-bound: call it in a thread."""
    # ``parsed`` comes from the same bytes and counts the same parts as attachments, so when it
    # lists none there is nothing to read: re-parsing the raw message to find out costs more
    # than scanning a small message's text.
    attachments = [
        AttachmentText(info.filename, info.content_type, content)
        for info, content in (iter_attachments(raw) if parsed.attachments else ())
    ]
    return Findings(tuple(scan_content(parsed.subject, parsed.text, parsed.html, attachments)))


async def load_policy(conn: AsyncConnection, agent_id: str) -> GuardPolicy:
    stored = await repo.get_policy(conn, agent_id)
    if stored is None:
        return GuardPolicy()
    try:
        return parse_policy(stored, RULE_IDS)
    except PolicyError:  # a rule id that no longer exists: keep the rest, drop that part
        return parse_policy({k: v for k, v in stored.items() if k != "disabledRules"}, RULE_IDS)


async def classify(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    policy: GuardPolicy,
    envelope: list[Address],
) -> set[RecipientClass]:
    """The classes of everyone the message goes to: to, cc and bcc alike."""
    owner_email = (await repo.owner_email(conn, agent.owner_id) or "").strip().lower()
    classes: set[RecipientClass] = set()
    for rcpt in envelope:
        address = rcpt.address.lower()
        if rcpt.domain == ctx.settings.domain:
            classes.add(RecipientClass.agent)
        elif (owner_email and address == owner_email) or rcpt.domain in policy.allow_domains:
            classes.add(RecipientClass.owner)
        elif await content_repo.is_contact(conn, agent.id, rcpt.address):
            classes.add(RecipientClass.contact)
        else:
            classes.add(RecipientClass.stranger)
    return classes


async def decide(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    findings: Findings,
    envelope: list[Address],
) -> Verdict:
    """Allow, warn or hold, by the findings and who the recipients are."""
    if not findings.items:
        return Verdict()
    policy = await load_policy(conn, agent.id)
    classes = await classify(ctx, conn, agent, policy, envelope)
    action, live = action_for(policy, list(findings.items), classes)
    shown = tuple(live) if action is not Action.allow else ()
    return Verdict(action, shown, tuple(sorted(classes)))


def content_hash(raw: bytes, envelope: list[str]) -> str:
    """SHA-256 over the exact bytes and the recipients: what an approval is bound to."""
    digest = hashlib.sha256()
    digest.update(raw)
    digest.update(b"\0")
    digest.update("\n".join(sorted(a.lower() for a in envelope)).encode("utf-8"))
    return digest.hexdigest()


async def hold(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    message: tuple[bytes, ParsedMessage],
    envelope: list[Address],
    verdict: Verdict,
) -> HeldMail:
    """Keep the message as a pending item (inside the send's transaction) and audit it."""
    raw, parsed = message
    now = now_utc()
    pending_id = str(uuid.uuid4())
    expires_at = now + timedelta(hours=ctx.settings.approval_ttl_hours)
    recipients = [a.address for a in envelope]
    digest = content_hash(raw, recipients)
    await repo.insert_pending(
        conn,
        {
            "id": pending_id,
            "owner_id": agent.owner_id,
            "agent_id": agent.id,
            "raw": raw,
            "envelope": recipients,
            "message_id": parsed.message_id,
            "subject": parsed.subject[:1000],
            "findings": [f.to_dict() for f in verdict.warnings],
            "content_hash": digest,
            "created_at": now,
            "expires_at": expires_at,
            "reminders_sent": 0,
        },
    )
    # The owner's approval request by mail, in this same transaction (approval_notice.py).
    notice = await approval_notice.notify_hold(
        ctx,
        conn,
        agent,
        (pending_id, digest, expires_at),
        parsed,
        recipients,
        list(verdict.warnings),
    )
    entry = _held_entry(agent, pending_id, len(envelope), verdict)
    entry.detail["ownerNotice"] = notice
    await audit.record(ctx, conn, entry)
    remind_at = next_after(now, now, expires_at)
    return HeldMail(pending_id, verdict.warnings, expires_at, remind_at)


def _held_entry(
    agent: AgentRecord, pending_id: str, recipients: int, verdict: Verdict
) -> AuditEntry:
    return AuditEntry(
        "send.held",
        status="held",
        owner_id=agent.owner_id,
        agent_id=agent.id,
        recipients=recipients,
        detail={
            "pendingId": pending_id,
            "rules": sorted({f.rule_id for f in verdict.warnings}),
            "classes": [c.value for c in verdict.classes],
        },
    )


async def get_policy(ctx: AppContext, principal: Principal, name: str) -> GuardPolicy:
    """An agent's guard policy (the defaults until its owner sets one)."""
    principal.require_admin_or_owner()
    agent = await find_agent(ctx, principal, name)
    async with ctx.db.read() as conn:
        return await load_policy(conn, agent.id)


async def set_policy(
    ctx: AppContext, principal: Principal, name: str, document: dict[str, object]
) -> GuardPolicy:
    """Replace an agent's policy; parts left out take the defaults."""
    principal.require_admin_or_owner()
    agent = await find_agent(ctx, principal, name)
    try:
        policy = parse_policy(document, RULE_IDS)
    except PolicyError as exc:
        raise InvalidInput(str(exc), field=exc.field) from exc
    async with ctx.db.write() as conn:
        await repo.put_policy(conn, agent.id, policy.to_dict(), now_utc())
        await audit.record(
            ctx,
            conn,
            AuditEntry(
                "guard.policy_updated",
                owner_id=agent.owner_id,
                agent_id=agent.id,
                detail=policy.to_dict(),
            ),
        )
    return policy
