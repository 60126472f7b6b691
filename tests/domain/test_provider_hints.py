"""Provider answers and network failures translated into what an owner should do; presets."""

from __future__ import annotations

import pytest

from agentpost.domain.provider_hints import Failure, ProbeResult, ProbeStage, hint_for
from agentpost.domain.smtp_presets import PRESETS, default_port, default_security, is_loopback
from agentpost.domain.transport import Security


def auth_hint(code: int, reply: str, host: str = "smtp.example.com") -> str | None:
    return hint_for(
        Failure.REPLY, ProbeStage.AUTH, code=code, reply=reply, host=host, port=587,
        security="starttls",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("code", "reply", "host", "expected"),
    [
        (534, "5.7.9 Application-specific password required.", "smtp.gmail.com", "app password"),
        (534, "5.7.14 Please log in via your web browser", "smtp.gmail.com", "browser"),
        (535, "5.7.8 Username and Password not accepted. - gsmtp", "smtp.gmail.com", "Gmail"),
        (535, "5.7.139 Authentication unsuccessful, basic authentication is disabled.",
         "smtp.office365.com", "Set-CASMailbox"),
        (535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
         "the Tenant.", "smtp.office365.com", "Authenticated SMTP"),
        (535, "5.7.139 Authentication unsuccessful, the user is locked by your organization's "
         "security defaults policy.", "smtp.office365.com", "Security Defaults"),
        (535, "5.7.3 Authentication unsuccessful", "smtp.office365.com", "Microsoft"),
        (535, "5.7.8 Authentication credentials invalid", "mail.example.com", "or password"),
        (530, "5.7.0 Must issue a STARTTLS command first", "mail.example.com", "starttls"),
    ],
)  # fmt: skip
def test_known_answers(code: int, reply: str, host: str, expected: str) -> None:
    hint = auth_hint(code, reply, host)
    assert hint is not None and expected in hint


def test_unknown_answer_has_no_made_up_hint() -> None:
    assert auth_hint(554, "5.7.1 policy") is None


@pytest.mark.parametrize(
    ("failure", "port", "security", "expected"),
    [
        (Failure.REFUSED, 587, "starttls", "Nothing accepts connections"),
        (Failure.DNS, 587, "starttls", "does not resolve"),
        (Failure.TIMEOUT, 465, "starttls", "set security to tls"),
        (Failure.CERTIFICATE, 587, "starttls", "verifyTls"),
        (Failure.TLS, 587, "tls", "use security starttls"),
        (Failure.NO_STARTTLS, 587, "starttls", "does not offer STARTTLS"),
        (Failure.NO_AUTH, 25, "none", "does not offer AUTH"),
    ],
)
def test_network_failures(failure: Failure, port: int, security: str, expected: str) -> None:
    hint = hint_for(
        failure, ProbeStage.CONNECT, code=None, reply="x", host="h.example", port=port,
        security=security,
    )  # fmt: skip
    assert hint is not None and expected in hint


def test_verdicts() -> None:
    ok = ProbeResult(True, ProbeStage.QUIT, "h", 587, "starttls", 12, 221, "bye",
                     tls_version="TLSv1.3", authenticated=True)  # fmt: skip
    assert ok.verdict == (
        "connection to h:587 (starttls) works, TLSv1.3: EHLO and AUTH succeeded, no mail was sent"
    )
    bad = ProbeResult(False, ProbeStage.AUTH, "h", 587, "starttls", 12, 535, "5.7.8 no",
                      failure=Failure.REPLY)  # fmt: skip
    assert bad.verdict == "auth failed on h:587 (starttls): 535 5.7.8 no"


def test_presets_and_defaults() -> None:
    gmail = PRESETS["gmail"]
    assert gmail is not None and (gmail.host, gmail.port) == ("smtp.gmail.com", 587)
    assert PRESETS["outlook"] == PRESETS["office365"] and PRESETS["custom"] is None
    assert default_port(Security.TLS) == 465 and default_port(Security.STARTTLS) == 587
    assert default_security(465) is Security.TLS and default_security(2525) is Security.STARTTLS


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("LOCALHOST.", True), ("127.0.0.2", True), ("::1", True),
     ("a.localhost", True), ("10.0.0.1", False), ("mail.example.com", False),
     ("localhost.example.com", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
