"""How to reach an SMTP server: the connection facts shared by configurations, the connection
test, the delivery worker and the relay gateway. Pure data; the password is already
decrypted here, so an ``SmtpEndpoint`` must never be logged, returned or stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Security(StrEnum):
    """``tls``: TLS from the first byte (port 465); ``starttls``: upgrade after EHLO (587);
    ``none``: plain text, only to loopback hosts or when the owner explicitly allows it."""

    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    # Verify the server's certificate (always, unless a test points at a self-signed peer).
    verify_tls: bool = True
    config_id: str | None = None
    owner_id: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
