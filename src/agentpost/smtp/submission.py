"""Preparing a message an agent submits over SMTP (RFC 6409), before it is stored and sent.

The agent may only send as itself: every address in From and Sender must be its own. As a
submission server may (RFC 6409 §8), we add a missing From, Date or Message-ID, and we drop
Bcc fields so blind recipients stay blind (RFC 5322 §3.6.3); the envelope still carries them.
Only the header block is touched; the body bytes pass through unchanged. Pure functions over
bytes, meant to run in a worker thread.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, formataddr, getaddresses, make_msgid

from agentpost.domain.addresses import normalize

_ORIGINATOR_FIELDS = (b"from", b"sender")
_DROPPED_FIELDS = (b"bcc",)


class SenderMismatch(ValueError):
    """The message claims an author other than the authenticated agent."""


def split_header(raw: bytes) -> tuple[list[bytes], bytes]:
    """The header fields (each with its folded continuation lines) and the rest of the message.

    The rest starts with the blank line that ends the header block (RFC 5322 §2.1), if any.
    """
    fields: list[list[bytes]] = []  # lines per field; joined once (no quadratic concatenation)
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end + 1
        line = raw[pos:end]
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
        pos = end
    return [b"".join(parts) for parts in fields], raw[pos:]


def field_name(field: bytes) -> bytes:
    return field.partition(b":")[0].strip().lower()


def field_value(field: bytes) -> str:
    return field.partition(b":")[2].decode("utf-8", "replace")


def prepare_submission(
    raw: bytes, *, address: str, display_name: str, domain: str, now: datetime
) -> bytes:
    """Check the originator fields and complete the header. Raises SenderMismatch."""
    fields, rest = split_header(raw)
    names = [field_name(f) for f in fields]
    _check_originators(fields, names, address)
    kept = [f for f, n in zip(fields, names, strict=True) if n not in _DROPPED_FIELDS]
    added: list[str] = []
    if b"from" not in names:
        added.append(f"From: {formataddr((display_name, address))}")
    if b"date" not in names:
        added.append(f"Date: {format_datetime(now)}")
    if b"message-id" not in names:
        added.append(f"Message-ID: {make_msgid(domain=domain)}")
    extra = "".join(f"{line}\r\n" for line in added).encode("utf-8")
    if not rest:
        rest = b"\r\n"
    return b"".join(kept) + extra + rest


def _check_originators(fields: list[bytes], names: list[bytes], address: str) -> None:
    own = normalize(address)
    for field, name in zip(fields, names, strict=True):
        if name not in _ORIGINATOR_FIELDS:
            continue
        found = [normalize(addr) for _, addr in getaddresses([field_value(field)]) if addr]
        if not found or any(addr != own for addr in found):
            label = name.decode("ascii", "replace").capitalize()
            raise SenderMismatch(f"{label} must be {address}")
