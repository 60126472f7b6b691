"""Approval by reply, the pure parts: reply addresses, the decision word, trusted
Authentication-Results, and the redacted preview of an approval request."""

from __future__ import annotations

import pytest

from agentpost.domain.guard.approval_reply import (
    Decision,
    is_approval_address,
    judge_authentication,
    read_decision,
    reply_address,
    token_of,
)
from agentpost.domain.guard.notice_text import redact, redact_subject

TOKEN = "0123456789abcdef0123456789abcdef01234567"
TRUSTED = frozenset({"mx.gateway.example"})


def test_reply_addresses_round_trip_and_only_ours_count() -> None:
    address = reply_address(TOKEN, "agents.example")
    assert address == f"approvals+{TOKEN}@agents.example"
    assert is_approval_address(address.upper(), "agents.example")
    assert token_of(f"<{address.upper()}>") == TOKEN
    assert not is_approval_address(f"approvals+{TOKEN}@other.example", "agents.example")
    assert not is_approval_address("approvals@agents.example", "agents.example")
    assert token_of("approvals+short@agents.example") is None
    assert token_of(f"alice+{TOKEN}@agents.example") is None


@pytest.mark.parametrize(
    ("body", "subject", "expected"),
    [
        ("APPROVE", "", Decision.approve),
        ("  approve.\nthanks", "", Decision.approve),
        ("**Reject** please", "", Decision.reject),
        ("On Mon, AgentPost wrote:\n> REJECT\n\nApprove", "", Decision.approve),
        ("> APPROVE\nnot sure yet", "", None),
        ("", "Re: RE: Approve", Decision.approve),
        ("Hello", "Re: [AgentPost] Approval needed", None),
        ("Approved it already?", "", None),
        ("Yes", "", None),
        ("No problem, send it", "", None),
    ],
)
def test_the_decision_is_the_first_own_word(
    body: str, subject: str, expected: Decision | None
) -> None:
    assert read_decision(body, subject) is expected


def test_authentication_results_only_from_trusted_servers_count() -> None:
    passing = "mx.gateway.example; dmarc=pass (p=reject) header.from=owner.example"
    aligned_dkim = "mx.gateway.example 1; dkim=pass header.d=mail.owner.example header.s=s1"
    foreign_dkim = "mx.gateway.example; dkim=pass header.d=evil.example; dmarc=fail"
    failing = "mx.gateway.example; spf=pass; dkim=fail header.d=owner.example; dmarc=fail"
    forged = "elsewhere.example; dmarc=pass header.from=owner.example"
    assert judge_authentication([], frozenset(), "owner.example") is None
    assert judge_authentication([passing], TRUSTED, "owner.example") is None
    assert judge_authentication([aligned_dkim], TRUSTED, "owner.example") is None
    refused = judge_authentication([foreign_dkim], TRUSTED, "owner.example")
    assert refused is not None and refused.startswith("authentication_failed")
    refused = judge_authentication([failing], TRUSTED, "owner.example")
    assert refused is not None and "dmarc=fail" in refused
    assert judge_authentication([forged], TRUSTED, "owner.example") == "authentication_missing"
    # The topmost trusted header decides; a forged pass below it changes nothing.
    assert judge_authentication([failing, passing], TRUSTED, "owner.example") is not None


def test_the_preview_hides_what_the_guard_caught_and_anything_like_it() -> None:
    text = (
        "Dear Carol,\n"
        "card 4111 1111 1111 1111 as discussed\n"
        "api_key = sk_live_abcdefghijklmnopqrstuvwx\n"
        "my pin: 8841 and token is qwertyuiop123\n"
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
        "Kind regards"
    )
    shown = redact(text)
    for secret in ("4111", "sk_live", "8841", "qwertyuiop123", "MIIEvQ"):
        assert secret not in shown
    assert shown.startswith("Dear Carol,") and shown.endswith("Kind regards")
    assert "[key block withheld]" in shown
    assert "4111" not in redact_subject("card 4111 1111 1111 1111")
    long_text = "line\n" * 100
    assert redact(long_text).endswith("…")
