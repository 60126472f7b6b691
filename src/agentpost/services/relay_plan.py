"""Working out a relay account's two servers from what the owner gave: provider presets,
ports, TLS modes (RFC 8314 implicit TLS on 465/993, STARTTLS otherwise) and the rule that
plain text only goes to a loopback host. Pure: no I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from agentpost.domain import relay as rules
from agentpost.domain.addresses import is_valid_address, normalize
from agentpost.domain.relay import Provider
from agentpost.domain.transport import Security, SmtpEndpoint
from agentpost.errors import InvalidInput
from agentpost.relay.imap import ImapEndpoint

CHECK_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class RelaySetup:
    """What setup_email_relay takes; hosts and ports default from the provider's preset."""

    provider: str
    email: str
    password: str = field(repr=False)
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_security: str | None = None
    username: str | None = None
    mailbox: str = "INBOX"
    agent_name: str | None = None
    agent_role: str | None = None
    skip_default_agent: bool = False


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _security(value: str | None, host: str, name: str, implicit: Security) -> Security:
    try:
        security = Security(value) if value else implicit
    except ValueError:
        raise InvalidInput(f"{name} must be tls, starttls or none", field=name) from None
    if security is Security.NONE and not is_loopback(host):
        raise InvalidInput(
            f"{name} none sends the password in clear text: only allowed to a loopback host",
            field=name,
        )
    return security


def _port(value: int | None, default: int, name: str) -> int:
    port = default if value is None else value
    if not 1 <= port <= 65535:
        raise InvalidInput(f"{name} must be between 1 and 65535", field=name)
    return port


def _checked(setup: RelaySetup) -> tuple[Provider, str]:
    try:
        provider = Provider(setup.provider)
    except ValueError:
        raise InvalidInput("provider must be gmail, outlook or custom", field="provider") from None
    email = normalize(setup.email or "")
    if not is_valid_address(email) or "+" in email.split("@")[0]:
        raise InvalidInput(
            "email must be the account's plain address, e.g. you@gmail.com", field="email"
        )
    if not setup.password:
        raise InvalidInput("password is required (for Gmail: an app password)", field="password")
    if not setup.mailbox or any(ch in setup.mailbox for ch in '\r\n"'):
        raise InvalidInput("mailbox must be a mailbox name such as INBOX", field="mailbox")
    return provider, email


def plan(setup: RelaySetup) -> tuple[SmtpEndpoint, ImapEndpoint]:
    """Validate ``setup`` and work out both servers (presets, ports, TLS modes)."""
    provider, email = _checked(setup)
    preset = rules.PRESETS.get(provider)
    smtp_host = setup.smtp_host or (preset.smtp_host if preset else "localhost")
    imap_host = setup.imap_host or (preset.imap_host if preset else "localhost")
    smtp_port = _port(setup.smtp_port, preset.smtp_port if preset else 587, "smtpPort")
    imap_port = _port(setup.imap_port, preset.imap_port if preset else 993, "imapPort")
    smtp_security = rules.implicit_tls_smtp(smtp_port)
    imap_security = rules.implicit_tls_imap(imap_port)
    username = setup.username or email
    smtp = SmtpEndpoint(
        host=smtp_host,
        port=smtp_port,
        security=_security(setup.smtp_security, smtp_host, "smtpSecurity", smtp_security),
        username=username,
        password=setup.password,
        timeout=CHECK_TIMEOUT,
        from_email=email,
    )
    imap = ImapEndpoint(
        host=imap_host,
        port=imap_port,
        security=_security(setup.imap_security, imap_host, "imapSecurity", imap_security),
        username=username,
        password=setup.password,
        timeout=CHECK_TIMEOUT,
    )
    return smtp, imap
