"""The SMTP side of approval by reply: mail for ``approvals+TOKEN@DOMAIN``.

The handler asks ``route_rcpt`` at RCPT (inbound sessions only) and, at DATA, hands a
transaction whose recipients are approval addresses to ``receive`` instead of storing it in a
mailbox (services/approval_mail.py does the checking). A reply address is accepted at RCPT
whatever its token: whether the token is good is only known after the checks, which need the
message, and a refusal is then audited (``pending.reply_refused``) and the mail dropped. An
approval address and an agent's address may not share a transaction (452, RFC 5321
§4.5.3.1.10: the client sends the rest separately), so a reply — and the token it quotes —
can never also reach a mailbox.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default

from agentpost.domain.guard import html_as_text
from agentpost.domain.guard.approval_reply import is_approval_address
from agentpost.domain.scanning.headers import automated_signs, header_fields
from agentpost.services import approval_mail
from agentpost.services.approval_mail import ReplyMail
from agentpost.services.context import AppContext
from agentpost.smtp import replies

log = logging.getLogger(__name__)

SEPARATE = "452 4.5.3 Send replies to approval requests in a transaction of their own"
REPLY_RECEIVED = "250 2.0.0 Reply to the approval request received"
MAX_TEXT = 64 * 1024  # a decision is in the first lines; never read a whole huge body
# Anyone may send here: parse at most this much (headers and the start of the text body).
MAX_PARSED = 1024 * 1024


def route_rcpt(ctx: AppContext, address: str, accepted: list[str]) -> str | None:
    """None when ``address`` is ordinary mail in an ordinary transaction; else the reply to
    give (an accepted approval address is added to ``accepted``)."""
    domain = ctx.settings.domain
    reply = is_approval_address(address, domain)
    if not reply and not accepted:
        return None
    earlier = [is_approval_address(a, domain) for a in accepted]
    if reply:
        if not all(earlier):
            return SEPARATE
        accepted.append(address)
        return replies.RECIPIENT_OK
    return SEPARATE if any(earlier) else None


def is_reply_envelope(ctx: AppContext, recipients: list[str]) -> bool:
    """Whether a transaction carries replies to approval requests (``route_rcpt`` keeps
    them apart from other recipients, so the first recipient tells)."""
    return bool(recipients) and is_approval_address(recipients[0], ctx.settings.domain)


async def receive(ctx: AppContext, mail_from: str | None, recipients: list[str], raw: bytes) -> str:
    """Check and act on a reply; 250 once it was dealt with (refusals included), 451 when
    it could not be (the client keeps it and retries)."""
    try:
        reply = await asyncio.to_thread(read_reply, raw, mail_from or "")
        for address in dict.fromkeys(recipients):
            outcome = await approval_mail.process_reply(ctx, address, reply)
            log.info("reply to an approval request: %s %s", outcome.result, outcome.reason)
    except Exception as exc:
        # Only the class: the message of a database error can quote the mail.
        log.error("processing a reply to an approval request failed (%s)", type(exc).__name__)
        return replies.LOCAL_ERROR
    return REPLY_RECEIVED


def read_reply(raw: bytes, mail_from: str) -> ReplyMail:
    """The parts of a reply the checks look at. CPU-bound: call it in a thread."""
    message = BytesParser(policy=default).parsebytes(raw[:MAX_PARSED])
    fields = header_fields(raw)
    senders = _addresses(message)
    return ReplyMail(
        envelope_sender=mail_from.strip().strip("<>"),
        from_addresses=senders,
        subject=_header(message, "Subject"),
        text=_text(message),
        authentication_results=fields.get("authentication-results", []),
        automated=automated_signs(fields, senders[0] if senders else ""),
    )


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, ""))
    except (ValueError, TypeError, IndexError):  # a header the parser cannot make sense of
        return ""


def _addresses(message: EmailMessage) -> list[str]:
    found: list[str] = []
    try:
        for value in message.get_all("From") or []:
            found.extend(a.addr_spec for a in getattr(value, "addresses", ()))
    except (ValueError, TypeError, IndexError):
        return []
    return found


def _text(message: EmailMessage) -> str:
    try:
        body = message.get_body(preferencelist=("plain", "html"))
        if body is None:
            return ""
        content = body.get_content()
    except (LookupError, ValueError, TypeError, AttributeError):
        return ""
    if not isinstance(content, str):
        return ""
    content = content[:MAX_TEXT]
    return html_as_text(content) if body.get_content_subtype() == "html" else content
