"""The owner's approval request for held mail, queued in the hold's own transaction.

``services/guard.hold`` calls ``notify_hold`` right after it stores the pending item. When
the owner has an email address and an SMTP configuration to send through, an approval
request goes into the system outbox (services/notices.py) and the item gets the keyed hash of
the request's reply token; otherwise nothing is queued and the reason is returned for the
hold's audit row (``ownerNotice``: ``no_owner_email`` or ``no_smtp_config``). Either way the
agent's send is answered as held: a missing notice is the owner's setup, not the agent's
error.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.guard import Finding, html_as_text
from agentpost.domain.guard.notice_text import HeldSummary, approval_request
from agentpost.domain.mime import ParsedMessage
from agentpost.services import notices
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import guard as guard_repo


async def notify_hold(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    held: tuple[str, str, datetime],
    parsed: ParsedMessage,
    recipients: list[str],
    findings: list[Finding],
) -> str:
    """Queue the approval request for a just-held item (``held``: its id, content hash and
    expiry). Returns ``queued`` or why nothing was queued."""
    pending_id, content_hash, expires_at = held
    email, status = await notices.owner_reach(ctx, conn, agent.owner_id)
    if not email:
        return status
    summary = HeldSummary(
        pending_id=pending_id,
        agent_name=agent.name,
        agent_address=agent.address,
        recipients=recipients,
        subject=parsed.subject,
        text=parsed.text or html_as_text(parsed.html),
        findings=findings,
        expires_at=expires_at,
        content_hash=content_hash,
    )
    subject, body = approval_request(summary)
    nonce = secrets.token_hex(16)  # 128 random bits behind the reply token
    token = notices.approval_token(ctx, nonce)
    draft = notices.NoticeDraft(
        kind="approval",
        recipient=email,
        subject=subject,
        body=body,
        pending_id=pending_id,
        nonce=nonce,
        content_hash=content_hash,
    )
    await notices.queue_notice(ctx, conn, agent.owner_id, draft)
    await guard_repo.mark_notified(conn, pending_id, notices.token_hash(ctx, token), now_utc())
    return status
