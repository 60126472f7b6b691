"""The ``Received:`` trace header this server adds to every message it accepts.

RFC 5321 §4.4: a server that accepts a message for delivery MUST prepend a Received line saying
where it came from, who took it, how (RFC 3848 protocol names: ESMTP, ESMTPS with TLS, ESMTPA /
ESMTPSA when authenticated) and when. Everything the client told us (its HELO name) is untrusted
and is reduced to a safe token before it goes into a header.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_:\[\]]")
MAX_HELO = 255


@dataclass(frozen=True, slots=True)
class TraceInfo:
    """What the session knows about the client, gathered when the DATA arrives."""

    helo: str | None
    peer: Any  # (host, port) for TCP, as asyncio reports it
    extended: bool
    tls: dict[str, Any] | None
    authenticated: bool


_PROCESS_TAG = secrets.token_hex(3).upper()
_SEQUENCE = itertools.count(int(time.time()))


def new_queue_id() -> str:
    """The id that ties the Received line to the 250 reply and to our logs: unique, not secret
    (a random tag per process and a counter, cheaper than asking the OS for randomness)."""
    return f"{_PROCESS_TAG}{next(_SEQUENCE) & 0xFFFFFFFFFF:010X}"


def received_header(
    info: TraceInfo,
    *,
    hostname: str,
    recipients: list[str],
    queue_id: str,
    now: datetime,
    show_peer: bool = True,
) -> bytes:
    """The folded Received field, CRLF-terminated, ready to prepend to the message."""
    parts = [f"Received: from {_safe_helo(info.helo)}"]
    if show_peer:
        parts.append(f" ({_address_literal(info.peer)})")
    parts.append(f"\r\n\tby {hostname} (AgentPost) with {_protocol(info)}")
    tls = _tls_comment(info.tls)
    if tls:
        parts.append(f"\r\n\t{tls}")
    parts.append(f"\r\n\tid {queue_id}")
    # RFC 5321 §7.6: naming the recipient of a multi-recipient message would reveal Bcc.
    if len(recipients) == 1 and _is_plain(recipients[0]):
        parts.append(f"\r\n\tfor <{recipients[0]}>")
    parts.append(f";\r\n\t{format_datetime(now)}\r\n")
    # Only our hostname can be non-ASCII (an IDN mail domain): RFC 6532 allows UTF-8 there.
    return "".join(parts).encode("utf-8")


def _safe_helo(helo: str | None) -> str:
    cleaned = _UNSAFE.sub("?", (helo or "")[:MAX_HELO])
    return cleaned or "unknown"


def _address_literal(peer: Any) -> str:
    """RFC 5321 §4.1.3 address literal of the peer: [192.0.2.1] or [IPv6:2001:db8::1]."""
    host = peer[0] if isinstance(peer, tuple) and peer else None
    if not isinstance(host, str) or not _is_plain(host):
        return "unknown"
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


def _protocol(info: TraceInfo) -> str:
    if not info.extended:
        return "SMTP"
    return "ESMTP" + ("S" if info.tls else "") + ("A" if info.authenticated else "")


def _tls_comment(tls: dict[str, Any] | None) -> str:
    if not tls:
        return ""
    cipher = tls.get("cipher")
    if not isinstance(cipher, tuple) or len(cipher) != 3:
        return "(using TLS)"
    name, version, bits = cipher
    return f"(using {version} with cipher {name} ({bits} bits))"


def _is_plain(value: str) -> bool:
    """Printable ASCII without the characters that would end a comment, bracket or field."""
    return value.isascii() and value.isprintable() and not any(ch in value for ch in "()<>;\\")
