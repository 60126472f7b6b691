"""The connection test's verdict, and known provider answers translated into what to do.

Pure: the probe (delivery/probe.py) classifies what happened into a ``Failure`` at a
``ProbeStage`` with the server's reply, and ``hint_for`` turns that into advice an owner can
act on. Provider texts matched here are the ones Google and Microsoft document for SMTP AUTH
(enhanced status codes per RFC 3463; 534/535 per RFC 4954 §6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ProbeStage(StrEnum):
    CONNECT = "connect"
    TLS = "tls"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    QUIT = "quit"


class Failure(StrEnum):
    REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    DNS = "host_not_found"
    CERTIFICATE = "certificate_invalid"
    TLS = "tls_failed"
    DISCONNECTED = "disconnected"
    NO_STARTTLS = "starttls_not_offered"
    NO_AUTH = "auth_not_offered"
    REPLY = "server_refused"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a connection test found. ``reply`` is the server's last reply (or the network
    error); it never contains the password, which only ever travels inside AUTH."""

    ok: bool
    stage: ProbeStage
    host: str
    port: int
    security: str
    duration_ms: int
    code: int | None = None
    reply: str = ""
    failure: Failure | None = None
    hint: str | None = None
    tls_version: str | None = None
    authenticated: bool = False

    @property
    def verdict(self) -> str:
        where = f"{self.host}:{self.port} ({self.security})"
        if self.ok:
            steps = "EHLO and AUTH" if self.authenticated else "EHLO (no credentials to try)"
            tls = f", {self.tls_version}" if self.tls_version else ""
            return f"connection to {where} works{tls}: {steps} succeeded, no mail was sent"
        said = f"{self.code} {self.reply}".strip() if self.code else self.reply
        return f"{self.stage.value} failed on {where}: {said}"


_APP_PASSWORD_URL = "https://myaccount.google.com/apppasswords"  # noqa: S105 (a URL)
_MS_ENABLE = (
    "An administrator must enable Authenticated SMTP for this mailbox (Microsoft 365 admin "
    "center → Users → Active users → the user → Mail → Manage email apps → Authenticated "
    "SMTP, or in PowerShell: Set-CASMailbox -Identity <address> "
    "-SmtpClientAuthenticationDisabled $false) and allow it tenant-wide "
    "(Set-TransportConfig -SmtpClientAuthenticationDisabled $false). If Security Defaults are "
    "on, they block SMTP AUTH entirely; otherwise use an SMTP relay service instead."
)


def _is_google(host: str, reply: str) -> bool:
    return host.endswith(("gmail.com", "googlemail.com", "google.com")) or "gsmtp" in reply


def _is_microsoft(host: str, reply: str) -> bool:
    names = ("office365.com", "outlook.com", "hotmail.com", "live.com", "microsoft.com")
    return host.endswith(names) or "outlook.com" in reply.lower() or "5.7.139" in reply


def _auth_hint(code: int | None, reply: str, host: str) -> str | None:
    text = reply.lower()
    if code == 534 and "5.7.9" in reply:
        return (
            "Google requires an app password for this account (2-Step Verification is on). "
            f"Create one at {_APP_PASSWORD_URL} and use it as the password."
        )
    if code == 534 and "5.7.14" in reply:
        return (
            "Google blocked this sign-in. Sign in to the account in a browser, approve the "
            f"attempt, and use an app password ({_APP_PASSWORD_URL}) for SMTP."
        )
    if re.search(r"basic auth\w* is disabled|smtpclientauthentication is disabled", text):
        return f"Microsoft has SMTP AUTH (basic authentication) turned off. {_MS_ENABLE}"
    if "security defaults" in text:
        return (
            "Microsoft's Security Defaults block SMTP AUTH for this account. An administrator "
            "must turn Security Defaults off (or use Conditional Access instead), or send "
            "through an SMTP relay service."
        )
    if code == 535 and _is_google(host, reply):
        return (
            "Gmail did not accept the username or password. Use the full Gmail address as the "
            f"username and an app password ({_APP_PASSWORD_URL}); the normal Google password "
            "does not work for SMTP."
        )
    if code == 535 and _is_microsoft(host, reply):
        return (
            "Microsoft did not accept the credentials. Check the full address and password; "
            f"if they are right, SMTP AUTH may be disabled for the mailbox. {_MS_ENABLE}"
        )
    if code == 535:
        return (
            "The server refused the username or password: check both (some providers "
            "need an app-specific password for SMTP)."
        )
    if code == 530 or (code is not None and "starttls" in text):
        return "The server wants TLS before AUTH: set security to starttls (port 587)."
    if code in (504, 502):
        return "The server does not support the login methods offered (PLAIN, LOGIN)."
    return None


def _network_hint(failure: Failure, host: str, port: int, security: str, reply: str) -> str:
    if failure is Failure.REFUSED:
        return (
            f"Nothing accepts connections on {host}:{port}. Check the host and port (587 for "
            "starttls, 465 for tls) and that no firewall blocks outbound SMTP."
        )
    if failure is Failure.DNS:
        return f"The host name {host} does not resolve: check its spelling."
    if failure is Failure.TIMEOUT:
        advice = (
            f"No answer from {host}:{port} in time: a firewall may drop outbound SMTP (many "
            "cloud providers block ports 25, 465 and 587), or the host is wrong."
        )
        if port == 465 and security != "tls":
            advice += " Port 465 expects TLS from the first byte: set security to tls."
        return advice
    if failure is Failure.CERTIFICATE:
        return (
            f"The server's TLS certificate could not be verified ({reply}). Check that the "
            "host name matches the certificate. For a server with a private or self-signed "
            "certificate you trust, set verifyTls to false."
        )
    if failure is Failure.TLS:
        if port != 465 and security == "tls":
            return "This port does not speak TLS from the first byte: use security starttls."
        return f"The TLS handshake failed ({reply}); check the security mode and port."
    if failure is Failure.NO_STARTTLS:
        return (
            "The server does not offer STARTTLS on this port. Use security tls on port 465 if "
            "it supports that; plain text (none) is only allowed to loopback or when you "
            "explicitly allow insecure connections."
        )
    if failure is Failure.NO_AUTH:
        return (
            "The server does not offer AUTH on this connection: check the port (587 or 465 "
            "for submission, not 25) and the security mode, or remove the credentials."
        )
    return "The server closed the connection; check the port and security mode."


def hint_for(
    failure: Failure,
    stage: ProbeStage,
    *,
    code: int | None,
    reply: str,
    host: str,
    port: int,
    security: str,
) -> str | None:
    """Advice for a failed test, or None when nothing more useful than the reply is known."""
    host = host.lower()
    if failure is Failure.REPLY:
        hint = _auth_hint(code, reply, host)
        if hint is None and stage is ProbeStage.CONNECT and code is not None:
            hint = "The server refused the connection at greeting; it may not accept this client."
        return hint
    return _network_hint(failure, host, port, security, reply)
