"""Bounce notices: the delivery status notification an agent gets when its mail cannot be sent.

The notice is a ``multipart/report; report-type=delivery-status`` message (RFC 6522, RFC 3464):
a readable explanation with what to do next, the machine-readable status per recipient, and
the original message's header (RFC 3464 §2: never its body, which the sender already has).
It comes from ``MAILER-DAEMON@domain`` with ``Auto-Submitted: auto-replied`` (RFC 3834) and an
empty return path in spirit, so no well-behaved system answers it. Pure: builds bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import charset, policy
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SPACE = re.compile(r"\s+")
# Quoted-printable keeps the notice readable in raw form (base64 is the default for UTF-8).
_UTF8_QP = charset.Charset("utf-8")
_UTF8_QP.body_encoding = charset.QP


@dataclass(frozen=True, slots=True)
class Failure:
    """One recipient that will never get the message, and the reply that said so."""

    recipient: str
    code: int | None  # the SMTP reply code; None for network failures and expiry
    reply: str
    expired: bool = False  # the deadline passed while retrying


def one_line(text: str, limit: int = 900) -> str:
    """Header-safe: whitespace runs (CR and LF included) become one space."""
    return _SPACE.sub(" ", text).strip()[:limit]


def status_code(failure: Failure) -> str:
    """The RFC 3463 status: the server's own enhanced code, else one implied by the reply."""
    if failure.expired:
        return "4.4.7"  # delivery time expired
    found = _ENHANCED.search(failure.reply)
    if found and failure.code is not None and found.group(1) == str(failure.code)[0]:
        return found.group(0)
    if failure.code is not None and 200 <= failure.code < 600:
        return f"{failure.code // 100}.0.0"
    return "4.4.1"  # no answer from host


def advice(failure: Failure) -> str:
    if failure.expired:
        return (
            "The server kept answering with a temporary failure (or could not be reached) "
            "until the delivery deadline passed. Check the SMTP configuration and the "
            "recipient's server, then send the message again."
        )
    return (
        "The receiving side refused this recipient permanently. Check the address for typos; "
        "if it is right, the recipient's server or your SMTP provider rejected the message "
        "(see the reply above). Sending the same message again will fail the same way."
    )


def _human(failures: list[Failure], subject: str, sent_at: datetime) -> str:
    lines = [
        "This is the mail system at this AgentPost server.",
        "",
        f'Your message "{one_line(subject, 200)}" sent {format_datetime(sent_at)}',
        "could not be delivered to the following recipient(s):",
        "",
    ]
    for failure in failures:
        reply = one_line(failure.reply) or "(no reply)"
        lines += [f"  {failure.recipient}", f"    server reply: {reply}", ""]
        lines += ["    What to do: " + advice(failure), ""]
    lines.append("The original message's header is attached below.")
    return "\n".join(lines) + "\n"


def _status_part(failures: list[Failure], reporting: str, sent_at: datetime) -> MIMEBase:
    # RFC 3464 §2.2/§2.3: one per-message block, then one block per recipient.
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {reporting}"
    per_message["Arrival-Date"] = format_datetime(sent_at)
    blocks: list[Message | str] = [per_message]
    for failure in failures:
        block = Message()
        block["Final-Recipient"] = f"rfc822; {one_line(failure.recipient, 320)}"
        block["Action"] = "failed"
        block["Status"] = status_code(failure)
        if failure.code is not None:
            block["Diagnostic-Code"] = f"smtp; {one_line(failure.reply)}"
        blocks.append(block)
    part = MIMEBase("message", "delivery-status")
    part.set_payload(blocks)
    return part


@dataclass(frozen=True, slots=True)
class BounceInput:
    domain: str
    sender: str  # the agent whose message bounced
    original_header: bytes
    original_message_id: str
    original_subject: str
    sent_at: datetime
    failures: list[Failure]


def build_bounce(data: BounceInput, *, message_id: str, now: datetime) -> bytes:
    """The complete notice as RFC 5322 bytes."""
    report = MIMEMultipart("report", report_type="delivery-status", policy=policy.SMTP)
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{data.domain}>"
    report["To"] = data.sender
    report["Subject"] = "Undelivered mail returned to sender: " + one_line(
        data.original_subject, 200
    )
    report["Date"] = format_datetime(now)
    report["Message-ID"] = message_id
    if data.original_message_id:
        report["In-Reply-To"] = data.original_message_id
        report["References"] = data.original_message_id
    report["Auto-Submitted"] = "auto-replied"
    human = _human(data.failures, data.original_subject, data.sent_at)
    report.attach(MIMEText(human, "plain", _UTF8_QP))  # type: ignore[arg-type]
    report.attach(_status_part(data.failures, data.domain, data.sent_at))
    headers = data.original_header.decode("utf-8", "replace")
    report.attach(MIMEText(headers, "rfc822-headers", _UTF8_QP))  # type: ignore[arg-type]
    return report.as_bytes(policy=policy.SMTP)


def header_block(raw: bytes) -> bytes:
    """The header section of ``raw``, up to (not including) the blank line."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(sep)
        if end >= 0:
            return raw[:end] + sep[: len(sep) // 2]
    return raw
