"""Which rule keywords a text holds (scanner.py): one Aho-Corasick pass up to a size, a
search per keyword past it. Both must answer exactly what a substring test of the lowered
text answers, for every keyword, overlapping and nested ones included ("pass" in "passport",
"wire" in "wireguard", "sk_" beside "sk-")."""

from __future__ import annotations

import random

from agentpost.domain.guard import TEXT_RULES, scanner
from agentpost.domain.guard.scanner import _TextFacts, scan_text

HINTS = sorted({hint for rule in TEXT_RULES for hint in rule.hints})


def _answers(text: str) -> dict[str, bool]:
    facts = _TextFacts(text)
    return {hint: facts.has_hint(hint) for hint in HINTS}


def _expected(text: str) -> dict[str, bool]:
    lowered = text.lower()
    return {hint: hint in lowered for hint in HINTS}


def _random_text(rng: random.Random) -> str:
    pieces = [
        lambda: rng.choice(HINTS),
        lambda: rng.choice(HINTS).upper(),
        lambda: rng.choice(HINTS)[: rng.randint(1, 3)],  # a keyword's start only
        lambda: rng.choice([" ", "\n", "x" * rng.randint(1, 80), "İ", "é", "ß", "=" * 5]),
        lambda: "".join(rng.choices("abcdefghijklmnopqrstuvwxyz_-/:.=", k=rng.randint(1, 12))),
    ]
    return "".join(rng.choice(pieces)() for _ in range(rng.randint(0, 30)))


def test_one_pass_finds_the_keywords_each_search_finds() -> None:
    rng = random.Random(20261208)
    found = 0
    for _ in range(3000):
        text = _random_text(rng)
        answers = _answers(text)
        assert answers == _expected(text), text
        found += sum(answers.values())
    assert found > 3000  # texts that do hold keywords, many of them


def test_nested_and_neighbouring_keywords_are_all_found() -> None:
    text = "Our WireGuard passport: sk-live and sk_test, see hooks.slack.com/x"
    answers = _answers(text)
    for hint in ("wire", "wireguard", "pass", "passport", "sk-", "sk_", "hooks.slack.com"):
        assert answers[hint], hint
    assert not answers["bearer"]


def test_a_text_past_the_one_pass_limit_gets_the_same_answers_and_findings() -> None:
    secret = "\npassword: Tr0ub4dor&3xyz\n"
    filler = "lorem ipsum dolor sit amet, wire the minutes to the owner. " * 1200
    text = filler + secret
    assert len(text) > scanner._ONE_PASS_LIMIT
    assert _answers(text) == _expected(text)
    small = filler[:2000] + secret
    assert len(small) <= scanner._ONE_PASS_LIMIT
    long_findings = {f.rule_id for f in scan_text(text, "message")}
    small_findings = {f.rule_id for f in scan_text(small, "message")}
    assert "ob_password_value" in small_findings
    assert long_findings == small_findings
