"""The guard's building blocks: checksums, HTML as text, attachment names, the reminder
schedule, the policy document, and that findings never carry the matched text."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from agentpost.domain.guard import TEXT_RULES, AttachmentText, Severity, html_as_text, scan_parts
from agentpost.domain.guard import validators as v
from agentpost.domain.guard.attachments import attachment_findings, is_text_like
from agentpost.domain.guard.policy import (
    Action,
    GuardPolicy,
    PolicyError,
    RecipientClass,
    action_for,
    parse_policy,
)
from agentpost.domain.guard.reminders import describe, last_due, next_after


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("4242 4242 4242 4242", True),
        ("4242-4242-4242-4242 12", True),  # a trailing expiry group is not part of the card
        ("4242 4242 4242 4241", False),  # Luhn
        ("1234 5678 9012 3456", False),  # no network starts with 1
        ("30 2026-11-22 12345", False),  # mixed separators: a date line, not a card
        ("4242 42424 2424 242", False),  # not a card layout
        ("3782 822463 10005", True),  # Amex 4-6-5
    ],
)
def test_card_numbers(text: str, valid: bool) -> None:
    assert v.is_card_number(text) is valid


def test_other_checksums() -> None:
    assert v.is_iban("DE89 3704 0044 0532 0130 00")
    assert not v.is_iban("DE88 3704 0044 0532 0130 00")
    assert v.is_base58check("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2")
    assert not v.is_base58check("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3")
    assert v.is_bech32_address("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
    assert not v.is_bech32_address("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr")
    assert v.is_ssn("512-48-7736")
    assert not any(v.is_ssn(n) for n in ("000-12-3456", "666-12-3456", "912-12-3456"))
    assert v.looks_like_secret_value("Hunter2.") and not v.looks_like_secret_value("click.")


def test_html_is_read_as_the_reader_sees_it() -> None:
    source = (
        "<style>.k{}</style><script>var AKIA=1</script><p>key AKI<b>A</b>IOSFODNN7EXAMPLE</p>"
        "<p>x&amp;y &#65;</p><unclosed"
    )
    text = html_as_text(source)
    assert "AKIAIOSFODNN7EXAMPLE" in text and "var" not in text and "x&y A" in text
    found = scan_parts("s", "", source, [])
    assert [f.rule_id for f in found] == ["ob_aws_key"]


def test_attachment_names() -> None:
    def rules(name: str) -> list[str]:
        return [f.rule_id for f in attachment_findings(name)]

    assert rules("id_rsa") == ["ob_sensitive_file"]
    assert rules("backup/.env.local") == ["ob_sensitive_file"]
    assert rules("invoice.pdf.exe") == ["ob_double_extension"]
    assert rules("release.2026.sh") == ["ob_executable"]  # a version, not a decoy
    assert rules("dump.sql") == ["ob_data_file"]
    assert rules("photos.tar.gz") == ["ob_archive"]
    assert rules("report.final.pdf") == []
    assert is_text_like("x.bin", "application/json") and is_text_like(".env", "")
    assert not is_text_like("photo.png", "image/png")


# ob_phone as first written: its rewrite (pii_rules.py) opens with a character class so the
# regex engine can skip ahead, and must match at exactly the same places.
PHONE_AS_WRITTEN = re.compile(
    r"(?<![\w+.-])(?:\+?1[ .-])?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\d-])"
    r"|(?<![\w+])\+\d{1,3}[ .-]\d{1,4}[ .-]\d{3,4}[ .-]\d{3,4}(?!\d)"
)


def test_the_phone_rule_matches_where_it_did_as_first_written() -> None:
    phone = next(rule.pattern for rule in TEXT_RULES if rule.id == "ob_phone")
    rng = random.Random(7)

    def phone_like() -> str:
        groups = [
            "".join(rng.choice("0123456789\u0661") for _ in range(rng.choice((1, 2, 3, 3, 4, 4))))
            for _ in range(rng.randint(2, 5))
        ]
        text = rng.choice(["", "+", "(", "+1 ", "1-", "a", "-", ".", "_", "+("])
        for group in groups:
            text += group + rng.choice([" ", ".", "-", ") ", ")", "", "  ", "x"])
        return text + rng.choice(["", "-", "1", " ", "x", ".5"])

    texts = ["(415) 555-0132", "+1 415.555.0132", "+44 20 7946 0958", "a+1 415 555 0132"]
    texts += [phone_like() for _ in range(10000)]
    matched = 0
    for text in texts:
        for start in range(len(text) + 1):
            expected = PHONE_AS_WRITTEN.match(text, start)
            assert (phone.match(text, start) is None) is (expected is None), (text, start)
            matched += expected is not None
    assert matched > 50  # the random strings do hold phone numbers


def test_findings_carry_no_matched_text() -> None:
    secret = "password: Sunflower#2024 and card 4111 1111 1111 1111"
    attachment = AttachmentText("keys.txt", "text/plain", b"AKIAIOSFODNN7EXAMPLE")
    found = scan_parts("hi", secret, "", [attachment])
    assert {f.rule_id for f in found} >= {"ob_password_value", "ob_credit_card", "ob_aws_key"}
    shown = repr([f.to_dict() for f in found])
    assert not any(part in shown for part in ("Sunflower", "4111", "AKIA"))
    assert "attachment keys.txt" in shown


def test_reminder_schedule() -> None:
    held = datetime(2026, 11, 1, tzinfo=UTC)
    expires = held + timedelta(days=30)
    hours = []
    at = held
    while (upcoming := next_after(held, at, expires)) is not None and len(hours) < 10:
        hours.append(round((upcoming - held).total_seconds() / 3600))
        at = upcoming
    assert hours == [12, 18, 21, 22, 94, 106, 112, 115, 116, 188]
    assert last_due(held, held + timedelta(hours=11)) is None
    assert describe(last_due(held, held + timedelta(hours=19)) or _never()) == (
        "follow-up reminder 2/4"
    )
    assert next_after(held, held, held + timedelta(hours=10)) is None  # expires first


def _never() -> object:
    raise AssertionError("expected a reminder")


def test_policy_document_and_strictest_action() -> None:
    policy = parse_policy(
        {"actions": {"agent": {"high": "HOLD"}}, "allowDomains": ["@Corp.Example"]},
        frozenset({"ob_phone"}),
    )
    assert policy.allow_domains == ("corp.example",)
    assert policy.actions[RecipientClass.agent][Severity.high] is Action.hold
    assert parse_policy(policy.to_dict(), frozenset()) == policy
    with pytest.raises(PolicyError):
        parse_policy({"disabledRules": ["ob_phone"]}, frozenset())
    from agentpost.domain.guard import scan_parts as scan

    found = scan("", "call (415) 555-0132, card 4111 1111 1111 1111", "", [])
    default = GuardPolicy()
    assert action_for(default, found, {RecipientClass.agent})[0] is Action.warn
    both = {RecipientClass.agent, RecipientClass.stranger}
    assert action_for(default, found, both)[0] is Action.hold
    assert action_for(default, [], both)[0] is Action.allow
