"""The system outbox: mail AgentPost itself sends to an owner, never through a mailbox.

Approval requests for held mail and the answers to an owner's replies are queued here
(``queue_notice``, inside the caller's transaction) and sent by the worker role
(delivery/notice_sender.py) through the owner's default SMTP configuration, with the same
retry rules as agent mail. Nothing of this passes through an agent's mailbox: an approval
request carries the token that releases held mail.

The token of an approval request is not stored: the row keeps a random nonce and the token
is derived from it with the server's hashing secret (``approval_token``) each time the mail
is built, so a retried request carries the same token and the database alone cannot approve
anything. The held item keeps only a keyed hash of the token (``token_hash``).

Outcomes are audited as ``notice.sent`` and ``notice.failed`` (kind, notice and pending ids,
the server's reply; never the token).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.guard.approval_reply import TOKEN_HEX, reply_address
from agentpost.domain.transport import SmtpEndpoint
from agentpost.services import audit, smtp_configs
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.storage.repositories import guard as guard_repo
from agentpost.storage.repositories import notices as repo
from agentpost.storage.repositories.notices import NoticeRecord

NOTICE_TOPIC = "@notices"
SYSTEM_NAME = "AgentPost"
NO_OWNER_EMAIL = "no_owner_email"
NO_SMTP_CONFIG = "no_smtp_config"
QUEUED = "queued"


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    kind: str  # approval | decision | refusal | syntax
    recipient: str
    subject: str
    body: str
    pending_id: str | None = None
    nonce: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed notice ready to send: where through, the envelope sender and the bytes."""

    record: NoticeRecord
    endpoint: SmtpEndpoint
    sender: str
    raw: bytes


def approval_token(ctx: AppContext, nonce: str) -> str:
    """The token in an approval request's Reply-To: 160 bits derived from the row's random
    nonce with the server secret (never stored)."""
    return ctx.keys.hash(f"approval-token:{nonce}")[:TOKEN_HEX]


def token_hash(ctx: AppContext, token: str) -> str:
    """What the held item stores: a keyed hash of the token, in its own domain."""
    return ctx.keys.hash(f"approval-token-hash:{token.lower()}")


def wake_event() -> Event:
    """Published after a notice commits: wakes the notice sender at once."""
    return Event(agent_id=NOTICE_TOPIC, type="notice.queued")


async def owner_reach(ctx: AppContext, conn: AsyncConnection, owner_id: str) -> tuple[str, str]:
    """(the owner's address, "queued"), or ("", why no notice can be sent to them)."""
    email = (await guard_repo.owner_email(conn, owner_id) or "").strip()
    if not email:
        return "", NO_OWNER_EMAIL
    if await smtp_configs.default_config_id(conn, owner_id) is None:
        return "", NO_SMTP_CONFIG
    return email, QUEUED


async def queue_notice(
    ctx: AppContext, conn: AsyncConnection, owner_id: str, draft: NoticeDraft
) -> str:
    """Queue ``draft`` inside the caller's transaction; returns the notice id."""
    now = now_utc()
    notice_id = str(uuid.uuid4())
    await repo.insert_notice(
        conn,
        {
            "id": notice_id,
            "owner_id": owner_id,
            "kind": draft.kind,
            "pending_id": draft.pending_id,
            "recipient": draft.recipient,
            "subject": draft.subject,
            "body": draft.body,
            "nonce": draft.nonce,
            "content_hash": draft.content_hash,
            "next_attempt_at": now,
            "deadline_at": now + timedelta(seconds=ctx.settings.delivery_deadline_seconds),
            "created_at": now,
        },
    )
    return notice_id


async def claim(ctx: AppContext, limit: int) -> list[NoticeRecord]:
    now = now_utc()
    async with ctx.db.write() as conn:
        return await repo.claim_due(
            conn,
            now=now,
            limit=limit,
            lease_until=now + timedelta(seconds=ctx.settings.delivery_lease_seconds),
            skip_locked=not ctx.db.is_sqlite,
        )


async def next_due(ctx: AppContext) -> datetime | None:
    async with ctx.db.read() as conn:
        return await repo.next_due_at(conn)


async def prepare(ctx: AppContext, record: NoticeRecord) -> Outgoing | None:
    """The notice as mail, through the owner's default configuration (None: none now)."""
    async with ctx.db.read() as conn:
        config_id = await smtp_configs.default_config_id(conn, record.owner_id)
        endpoint = None
        if config_id is not None:
            endpoint = await smtp_configs.endpoint_for(ctx, conn, config_id)
    if endpoint is None:
        return None
    sender = _sender(ctx, endpoint)
    return Outgoing(record, endpoint, sender, build_message(ctx, record, sender))


def _sender(ctx: AppContext, endpoint: SmtpEndpoint) -> str:
    # The configuration's own address: providers insist on it as the sender.
    return endpoint.from_email or f"postmaster@{ctx.settings.domain}"


def build_message(ctx: AppContext, record: NoticeRecord, sender: str) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((SYSTEM_NAME, sender))
    message["To"] = record.recipient
    message["Subject"] = record.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=ctx.settings.domain)
    if record.kind == "approval" and record.nonce:
        address = reply_address(approval_token(ctx, record.nonce), ctx.settings.domain)
        message["Reply-To"] = formataddr((f"{SYSTEM_NAME} approvals", address))
    # RFC 3834: machine-made mail; asks Exchange not to answer it with out-of-office notes.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(record.body)
    return message.as_bytes()


async def record(
    ctx: AppContext,
    notice: NoticeRecord,
    *,
    status: str,
    next_attempt_at: datetime | None,
    reply: str,
) -> None:
    """Write one attempt's outcome: ``sent``, ``failed`` or ``queued`` (a retry)."""
    now = now_utc()
    async with ctx.db.write() as conn:
        await repo.finish(
            conn,
            notice.id,
            status=status,
            attempts=notice.attempts + 1,
            next_attempt_at=next_attempt_at,
            reply=reply,
            now=now,
        )
        if status in ("sent", "failed"):
            await audit.record(ctx, conn, _entry(notice, status, reply))


def _entry(notice: NoticeRecord, status: str, reply: str) -> AuditEntry:
    detail = {"noticeId": notice.id, "kind": notice.kind, "reply": reply[:300]}
    if notice.pending_id is not None:
        detail["pendingId"] = notice.pending_id
    return AuditEntry(
        f"notice.{status}",
        status="ok" if status == "sent" else "failed",
        owner_id=notice.owner_id,
        recipients=1,
        error=None if status == "sent" else reply[:300],
        detail=detail,
    )
