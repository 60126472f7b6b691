"""Provider presets and the pure rules of an SMTP configuration's connection settings.

Presets fill in the host, port and security a provider documents for authenticated
submission (RFC 6409 on 587 with STARTTLS, RFC 3207); anything given explicitly wins.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from agentpost.domain.transport import Security


@dataclass(frozen=True, slots=True)
class Preset:
    host: str
    port: int
    security: Security


PRESETS: dict[str, Preset | None] = {
    "gmail": Preset("smtp.gmail.com", 587, Security.STARTTLS),
    "outlook": Preset("smtp.office365.com", 587, Security.STARTTLS),
    "office365": Preset("smtp.office365.com", 587, Security.STARTTLS),
    "custom": None,
}

# RFC 8314 §3.3: implicit TLS submission on 465; RFC 6409 §3.1: submission on 587.
IMPLICIT_TLS_PORT = 465
SUBMISSION_PORT = 587

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def default_port(security: Security) -> int:
    return IMPLICIT_TLS_PORT if security is Security.TLS else SUBMISSION_PORT


def default_security(port: int) -> Security:
    return Security.TLS if port == IMPLICIT_TLS_PORT else Security.STARTTLS


def is_valid_host(host: str) -> bool:
    """A DNS name (LDH labels) or an IP literal, at most 253 characters."""
    if not host or len(host) > 253:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOSTNAME_RE.match(host) is not None
    return True


def is_loopback(host: str) -> bool:
    """``localhost`` (RFC 6761 §6.3) or a loopback IP literal: plain text never leaves the box."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
