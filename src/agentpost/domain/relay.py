"""Relay gateway rules: provider presets, sub-addresses and inbound routing. Pure; no I/O.

Agents appear on the owner's own account as ``user+agent@provider-domain`` (sub-addressing,
RFC 5233; Gmail and Outlook deliver ``user+anything@`` to ``user@``). A reply to that address
comes back to the account's INBOX still carrying the sub-address, which is how inbound mail
finds its agent; when it does not (a client that replied to the bare address), the thread
headers (In-Reply-To, References: RFC 5322 §3.6.4) name a message an agent sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import formataddr, getaddresses
from enum import StrEnum

from agentpost.domain.mime import bounded_header, decode_words
from agentpost.domain.transport import Security


class Provider(StrEnum):
    GMAIL = "gmail"
    OUTLOOK = "outlook"
    CUSTOM = "custom"


class Route(StrEnum):
    """Why an inbound relay message went to the agent it went to."""

    SUBADDRESS = "subaddress"
    THREAD = "thread"
    DEFAULT = "default"
    MANUAL = "manual"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class ServerPreset:
    smtp_host: str
    smtp_port: int
    imap_host: str
    imap_port: int


PRESETS: dict[Provider, ServerPreset] = {
    Provider.GMAIL: ServerPreset("smtp.gmail.com", 587, "imap.gmail.com", 993),
    Provider.OUTLOOK: ServerPreset("smtp.office365.com", 587, "outlook.office365.com", 993),
}

PROVIDER_HINTS: dict[Provider, str] = {
    Provider.GMAIL: (
        "Gmail needs 2-Step Verification and an app password (Google Account → Security → "
        "App passwords); your normal password is refused. IMAP must be enabled in Gmail "
        "settings → Forwarding and POP/IMAP."
    ),
    Provider.OUTLOOK: (
        "Outlook/Microsoft 365 needs an app password (account security settings), and for "
        "work accounts an administrator must allow SMTP AUTH and IMAP for the mailbox "
        "(Microsoft disabled basic authentication by default)."
    ),
    Provider.CUSTOM: (
        "Check the host names and ports with your mail provider; the username is usually the "
        "full email address."
    ),
}

# Headers that may carry the address a message was delivered to, most specific first.
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def split_email(email: str) -> tuple[str, str]:
    """``user@domain`` split at the last ``@`` (a quoted local part may contain one)."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{email!r} is not an email address")
    return local, domain.lower()


def implicit_tls_smtp(port: int) -> Security:
    """Port 465 speaks TLS from the first byte (RFC 8314 §3.3); others upgrade with STARTTLS."""
    return Security.TLS if port == 465 else Security.STARTTLS


def implicit_tls_imap(port: int) -> Security:
    """Port 993 speaks TLS from the first byte (RFC 8314 §3.2); others upgrade with STARTTLS."""
    return Security.TLS if port == 993 else Security.STARTTLS


def sub_address(relay_email: str, agent_name: str) -> str:
    local, domain = split_email(relay_email)
    return f"{local}+{agent_name.lower()}@{domain}"


def sender_header(relay_email: str, agent_name: str, display_name: str) -> str:
    """The From (and Reply-To) value an agent sends with through the relay."""
    # No line break or other control character can reach the header (RFC 5322 §2.2).
    clean = " ".join("".join(ch for ch in display_name if ch.isprintable()).split())
    return formataddr((clean, sub_address(relay_email, agent_name)), charset="utf-8")


def tag_of(relay_email: str, address: str) -> str | None:
    """``agent`` for ``user+agent@domain`` on the relay account, else None."""
    try:
        local, domain = split_email(relay_email)
        their_local, their_domain = split_email(address)
    except ValueError:
        return None
    base, plus, tag = their_local.partition("+")
    if not plus or their_domain != domain or base.lower() != local.lower():
        return None
    tag = tag.lower()
    return tag if _TAG.match(tag) else None


def subaddress_tag(relay_email: str, headers: dict[str, list[str]]) -> str | None:
    """The first sub-address tag found in the recipient headers, in RECIPIENT_HEADERS order."""
    for name in RECIPIENT_HEADERS:
        for _, address in getaddresses(headers.get(name.lower(), [])):
            tag = tag_of(relay_email, address)
            if tag:
                return tag
    return None


def header_fields(raw: bytes) -> dict[str, list[str]]:
    """Every value of the routing headers (RECIPIENT_HEADERS and From), keyed lower-case."""
    msg = BytesHeaderParser(policy=policy.compat32).parsebytes(bounded_header(raw))
    fields = {}
    for name in (*RECIPIENT_HEADERS, "From"):
        values = msg.get_all(name) or []
        fields[name.lower()] = [decode_words(str(value)) for value in values]
    return fields


def is_own_send(relay_email: str, from_values: list[str]) -> bool:
    """A copy of something an agent sent through the relay (Gmail files sent mail in the
    account's mailbox too): never import it back."""
    return any(tag_of(relay_email, address) for _, address in getaddresses(from_values))


def thread_parents(in_reply_to: str | None, references: list[str]) -> list[str]:
    """Message-IDs this message answers, most direct first."""
    parents = [in_reply_to] if in_reply_to else []
    parents += [ref for ref in reversed(references) if ref not in parents]
    return parents


def replace_sender(raw: bytes, from_value: str, reply_to: str) -> bytes:
    """``raw`` with its From and Reply-To fields replaced (RFC 5322 §3.6.2); the body and every
    other header are left byte for byte as they were."""
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    head, sep, body = raw.partition(newline + newline)
    if not sep:
        head, body = raw, b""
    fields: list[list[bytes]] = []
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)  # a folded continuation (RFC 5322 §2.2.3)
        else:
            fields.append([line])
    replacement = [
        f"From: {from_value}".encode("ascii"),
        f"Reply-To: {reply_to}".encode("ascii"),
    ]
    out: list[bytes] = []
    placed = False
    for field in fields:
        name = field[0].split(b":", 1)[0].strip().lower()
        if name in (b"from", b"reply-to"):
            if not placed:
                out += replacement
                placed = True
            continue
        out += field
    if not placed:
        out = replacement + out
    return newline.join(out) + newline + newline + body
