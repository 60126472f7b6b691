"""The text of the mail AgentPost sends an owner about held mail: the approval request, and
the answers to the owner's reply (done, refused, or "say APPROVE or REJECT").

An approval request shows the owner enough to decide — who, to whom, the subject, what the
guard found, a preview — without repeating the secret the guard caught: the request travels
through the owner's mail provider and sits in their mailbox. ``redact`` therefore errs far on
the side of hiding: a line any guard rule matches is replaced by the rule's description, and
in the rest every long token, every run of digits and every value after a word such as
"password" or "key" is masked. Pure text; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from agentpost.domain.guard.model import Finding
from agentpost.domain.guard.scanner import scan_text

PREVIEW_CHARS = 600
PREVIEW_LINES = 12
_LONG = re.compile(r"\S{16,}")
_DIGITS = re.compile(r"\d(?:[\d\s().+/-]{0,30}\d)?")
_LABELLED = re.compile(
    r"(?i)\b(pass\w*|pwd|secret\w*|token\w*|\w*key\w*|pin|code\w*|ssn|iban|account\w*)"
    r"(\s*[:=]\s*|\s+is\s+)(\S+)"
)
_PEM = re.compile(r"-----BEGIN [^-]*-----.*?(?:-----END [^-]*-----|\Z)", re.DOTALL)


def _mask_line(line: str) -> str:
    hits = scan_text(line, "preview")
    if hits:
        return f"[line withheld: {hits[0].description}]"
    line = _LABELLED.sub(lambda m: f"{m.group(1)}{m.group(2)}[hidden]", line)
    line = _LONG.sub("[hidden]", line)
    return _DIGITS.sub("#", line)


def redact(text: str, *, limit: int = PREVIEW_CHARS) -> str:
    """A preview of ``text`` with anything that could be the caught secret masked."""
    text = _PEM.sub("[key block withheld]", text[: limit * 4])
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    shown = [_mask_line(line) for line in lines[:PREVIEW_LINES]]
    preview = "\n".join(shown)
    if len(preview) > limit:
        preview = preview[:limit].rstrip() + " …"
    elif len(lines) > PREVIEW_LINES or len(text) >= limit * 4:
        preview += "\n…"
    return preview


def redact_subject(subject: str) -> str:
    return _mask_line(" ".join(subject.split())[:200])


@dataclass(frozen=True, slots=True)
class HeldSummary:
    """What an approval request says about one held message."""

    pending_id: str
    agent_name: str
    agent_address: str
    recipients: list[str]
    subject: str
    text: str
    findings: list[Finding]
    expires_at: datetime
    content_hash: str


def _findings(findings: list[Finding]) -> str:
    lines = [
        f"  - [{f.severity.value}] {f.description} ({f.rule_id}, in the {f.where})"
        for f in findings
    ]
    return "\n".join(lines) or "  (none recorded)"


def approval_request(held: HeldSummary) -> tuple[str, str]:
    """Subject and body of the mail asking the owner to approve or reject held mail."""
    subject = f"[AgentPost] Approval needed: mail from {held.agent_name} is on hold"
    quoted = "\n".join(f"  | {line}" for line in redact(held.text).splitlines()) or "  | (empty)"
    body = f"""\
Your agent {held.agent_name} <{held.agent_address}> tried to send a
message that the outbound guard held for your approval. Nothing has
been sent yet.

To:        {", ".join(held.recipients)}
Subject:   {redact_subject(held.subject)}
Held item: {held.pending_id}
Expires:   {held.expires_at:%Y-%m-%d %H:%M} UTC (after that it can no longer be sent)

What the guard found:
{_findings(held.findings)}

Preview (anything that may be the sensitive part is masked):
{quoted}

To decide, reply to this mail from this address with APPROVE or
REJECT as the first word of your reply. Approving sends exactly the
message that was held; if the agent changes it, it needs a new
approval.

You can also decide on the command line:
  agentpost pending show {held.pending_id}
  agentpost pending approve {held.pending_id}
  agentpost pending reject {held.pending_id}
or through the API with your owner key:
  POST /api/v1/pending/{held.pending_id}/approve (or /reject)

Content hash: {held.content_hash}
"""
    return subject, body


def decision_notice(decision: str, pending_id: str, outcome: str) -> tuple[str, str]:
    """The confirmation after a reply was acted on."""
    subject = f"[AgentPost] Held mail {decision}: {pending_id}"
    body = f"Your reply was accepted: held item {pending_id} was {decision}.\n\n{outcome}\n"
    return subject, body


def refusal_notice(pending_id: str, reason: str) -> tuple[str, str]:
    """Why a reply about held mail was not acted on (nothing was approved or rejected)."""
    subject = f"[AgentPost] Reply not accepted: {pending_id}"
    body = (
        f"A reply about held item {pending_id} was not acted on: {reason}\n\n"
        "Nothing was approved or rejected. You can still decide with "
        f"`agentpost pending approve {pending_id}` (or reject) or through the API.\n"
    )
    return subject, body


def syntax_notice(pending_id: str) -> tuple[str, str]:
    """The answer to a reply that names no decision."""
    subject = f"[AgentPost] Please answer APPROVE or REJECT: {pending_id}"
    body = (
        f"Your reply about held item {pending_id} did not say what to do, so nothing "
        "happened.\n\nReply to the approval request again with APPROVE or REJECT as the "
        "first word of your message (quoted lines starting with '>' are ignored; the subject "
        "counts when the body does not start with either word).\n"
    )
    return subject, body
