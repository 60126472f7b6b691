"""Digit rules run only near the text's digits (scanner.py: digit runs, windows of each rule's
``digit_reach`` around them, a whole-text fallback past a budget), and on ASCII text the rules
run their ASCII twins. Either way the findings must be exactly those of one plain pass of every
pattern over the whole text, which ``whole_text`` computes here.

Pinned at the edges: matches that start far before their first digit or end far after their
last, a match cut by a window's edge, windows that meet, digits at the text's ends, the
fallback past the digit budget, Unicode digits, ASCII separators that Unicode counts as space;
then a seeded random corpus. Each ``digit_reach`` is also checked against its patterns.
"""

from __future__ import annotations

import random
import re
import string
from re import _constants as sre  # the parsed form of a pattern, to bound what it reads
from re import _parser as sre_parse

import pytest

from agentpost.domain.guard import TEXT_RULES, Family, Severity, TextRule
from agentpost.domain.guard.model import DIGIT, ascii_twin
from agentpost.domain.guard.scanner import _spans, _TextFacts, scan_text

RULES = {rule.id: rule for rule in TEXT_RULES}
WINDOWED = [rule for rule in TEXT_RULES if rule.digit_reach is not None]


def _accepted(rule: TextRule, pattern: re.Pattern[str] | None, text: str) -> bool:
    if pattern is None:
        return False
    return any(rule.validator is None or rule.validator(m) for m in pattern.finditer(text))


def whole_text(text: str, rules: tuple[TextRule, ...] = TEXT_RULES) -> list[str]:
    """The rules one whole-text pass of their patterns fires: no gates, hints or windows."""
    return [
        rule.id
        for rule in rules
        if (_accepted(rule, rule.plain, text) or _accepted(rule, rule.pattern, text))
        and (rule.requires is None or rule.requires.search(text) is not None)
    ]


def scanned(text: str, rules: tuple[TextRule, ...] = TEXT_RULES) -> list[str]:
    return [finding.rule_id for finding in scan_text(text, "message", rules)]


# What a pattern reads, from its parsed form (re._parser): whether every match holds a digit,
# and how many characters past a match's start matching can look at.


def _only_digits(items: list[tuple[object, object]]) -> bool:
    def digit(op: object, av: object) -> bool:
        if op is sre.LITERAL:
            return re.fullmatch(r"\d", chr(av)) is not None  # type: ignore[arg-type]
        if op is sre.RANGE:
            low, high = av  # type: ignore[misc]
            return ord("0") <= low and high <= ord("9")
        return op is sre.CATEGORY and av is sre.CATEGORY_DIGIT

    return all(digit(op, av) for op, av in items)


def holds_digit(items: sre_parse.SubPattern | list[tuple[object, object]]) -> bool:
    for op, av in items:
        if op is sre.LITERAL and re.fullmatch(r"\d", chr(av)):
            return True
        if op is sre.IN and _only_digits(av):
            return True
        if op is sre.SUBPATTERN and holds_digit(av[3]):
            return True
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] >= 1 and holds_digit(av[2]):
            return True
        if op is sre.BRANCH and all(holds_digit(branch) for branch in av[1]):
            return True
    return False


def reads(items: sre_parse.SubPattern, groups: dict[int, int]) -> int | None:
    """An upper bound on the characters read from a match's start (lookaheads counted as if
    consumed, each ``\\b`` as one more), or None when a repeat is unbounded."""
    total = 0
    for op, av in items:
        part: int | None
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY, sre.AT):
            part = 1
        elif op is sre.SUBPATTERN:
            part = reads(av[3], groups)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            inner = reads(av[2], groups)
            part = None if av[1] is sre.MAXREPEAT or inner is None else av[1] * inner
        elif op is sre.BRANCH:
            options = [reads(branch, groups) for branch in av[1]]
            part = None if None in options else max(o for o in options if o is not None)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            part = reads(av[1], groups) if av[0] == 1 else 0  # lookbehinds read before
        elif op is sre.GROUPREF:
            part = groups[av]
        else:
            raise AssertionError(f"unhandled {op}")
        if part is None:
            return None
        total += part
    return total


def _group_widths(items: sre_parse.SubPattern, widths: dict[int, int]) -> dict[int, int]:
    for op, av in items:
        if op is sre.SUBPATTERN:
            if av[0] is not None:
                widths[av[0]] = av[3].getwidth()[1]
            _group_widths(av[3], widths)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            _group_widths(av[2], widths)
        elif op is sre.BRANCH:
            for branch in av[1]:
                _group_widths(branch, widths)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _group_widths(av[1], widths)
    return widths


@pytest.mark.parametrize("rule", WINDOWED, ids=lambda rule: rule.id)
def test_digit_reach_bounds_every_match(rule: TextRule) -> None:
    """What makes the windows exact: every match holds a digit, and matching reads no further
    than ``digit_reach`` past a match's start (so no further before or after any digit in it)."""
    assert rule.digit_reach is not None and DIGIT in rule.gates
    for pattern in (rule.plain, rule.pattern):
        if pattern is None:
            continue
        parsed = sre_parse.parse(pattern.pattern, pattern.flags)
        assert holds_digit(parsed), pattern.pattern
        bound = reads(parsed, _group_widths(parsed, {}))
        assert bound is not None and bound <= rule.digit_reach, (rule.id, bound)


def test_the_bound_is_tight_enough_to_matter() -> None:
    # The checks above can fail: a match with no digit, or reading past the reach, is seen.
    assert not holds_digit(sre_parse.parse(r"[A-Z0-9]{6}"))
    assert holds_digit(sre_parse.parse(r"ab(?:\d|[0-3])x"))
    parsed = sre_parse.parse(r"\d{3}(?=x{5})\b")
    assert reads(parsed, {}) == 9


def _iban(country: str, bban: str) -> str:
    """A checksum-valid IBAN (ISO 13616) for ``bban``."""
    number = int("".join(str(int(char, 36)) for char in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


# (rule, text holding one match whose digits sit far from one of its ends)
FAR_REACHING = [
    # keyword forms: up to ~50 characters of keyword and "number #" before the first digit
    ("ob_tax_id", "tax identification   number   number   number   12-3456789"),
    ("ob_ssn_obfuscated", "social   security   number   number   number   512487736"),
    ("ob_bank_routing", "sort\tcode   number   number   number   021000021"),
    ("ob_immigration", "alien registration   number   number   number   A-123456789"),
    ("ob_dob", "date of birth   :   september 12, 1990"),
    ("ob_itin", "ITIN   number   number   number   912-70-1234"),
    ("ob_pin", "pin number   :   48213"),
    # digits only at the start: the match runs ~40 characters past its last digit
    ("ob_iban", _iban("GB", "WESTABCDEFGHJKLMNPQRSTUVWXY")),
    ("ob_crypto_wallet", "0x" + "abcdef" * 6 + "abcd"),
    ("ob_crypto_wallet", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
    ("ob_credit_card", "4111 1111 1111 1111"),
    ("ob_phone", "+1 (415) 555-0132"),
    ("ob_ssn", "512-48-7736"),
    ("ob_private_ip", "192.168.100.200"),
]


def _with_hints_past_budget(rule: TextRule) -> str:
    """Each hint of ``rule`` often enough that keyword windows give way to digit windows."""
    return " ".join(f"{hint} zz" for hint in rule.hints) * 20 if rule.hints else ""


@pytest.mark.parametrize(("rule_id", "match"), FAR_REACHING)
def test_matches_far_from_their_digits_are_found_near_them(rule_id: str, match: str) -> None:
    rule = RULES[rule_id]
    assert rule.digit_reach is not None
    hints = _with_hints_past_budget(rule)
    for gap in range(0, 2 * rule.digit_reach + 10, 3):
        # Another number ``gap`` characters before the match and after it: its window's edge
        # falls before, inside and after the match as the gap grows.
        for text, hinted in (
            (f"Invoice 42 {'x' * gap} {match} {'y' * gap} 7\n{hints}", True),
            (f"{hints}\n{'-' * gap} {match}", True),
            (f"{match} {'.' * gap}", False),
        ):
            facts = _TextFacts(text)
            assert facts.runs is not None  # the windows are in use, not the fallback
            if rule.hints and hinted:
                assert _spans(facts.lowered, rule) is None  # and for keyword rules too
            found = scanned(text)
            assert rule_id in found, (gap, text)
            assert found == whole_text(text), (gap, text)


def test_a_match_cut_by_a_window_edge_is_judged_on_the_whole_text() -> None:
    """Windows are exact for a correct ``digit_reach``; the scanner still re-judges a match
    that ends at a window's edge on the whole text, which this rule's too-short reach (the
    pattern reads 8 characters) makes happen."""
    rule = TextRule(
        id="t",
        family=Family.pii,
        severity=Severity.medium,
        description="test",
        pattern=re.compile(r"\d\dx{1,5}(?!x)"),
        validator=lambda match: len(match.group()) == 7,
        gates=(DIGIT,),
        digit_reach=5,
    )
    # The window around "12" ends after five x's: the cut match fails the validator, the
    # whole text's passes.
    assert scanned("ab 12xxxxx yz", (rule,)) == ["t"]
    # The window's text matches, the whole text does not (a sixth x follows the edge).
    assert scanned("ab 12xxxxxx yz", (rule,)) == []
    assert scanned("12xxxxx", (rule,)) == ["t"]  # a window that ends with the text


def test_many_digit_runs_fall_back_to_the_whole_text() -> None:
    card = "4111 1111 1111 1111"
    # A text gets a digit per 64 characters, and at least 32: past that, windows would cover
    # most of it anyway and cost a regex call each.
    for count, padding, windowed in (
        (14, 0, True),
        (15, 0, True),
        (16, 0, False),
        (200, 0, False),
        (100, 7000, True),
        (100, 6000, False),
    ):
        numbers = " ".join(f"item {n % 10}" for n in range(count))
        text = f"{numbers} then {card} and a last 1 {'x' * padding}"
        assert sum(char.isdigit() for char in text) == count + 17
        assert (_TextFacts(text).runs is not None) is windowed, (count, padding)
        found = scanned(text)
        assert "ob_credit_card" in found and found == whole_text(text)


def test_a_long_digit_run_and_digits_at_both_ends() -> None:
    for text in (
        "4111111111111111",
        "5555 5555 5555 4444 is the card",
        "call me on 415-555-0132",
        "9" * 500 + " 512-48-7736",
        "512-48-7736 " + "1" * 40,
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "1",
        "",
    ):
        assert scanned(text) == whole_text(text), text


def test_unicode_digits_are_digits_to_the_windows_too() -> None:
    arabic = str.maketrans("0123456789", "".join(chr(0x660 + n) for n in range(10)))
    fullwidth = str.maketrans("0123456789", "".join(chr(0xFF10 + n) for n in range(10)))
    for text in (
        "my SSN is 512-48-7736".translate(arabic),
        "é " + "x" * 300 + " card 4111 1111 1111 1111".translate(arabic) + " 7",
        "routing number 021000021 ".translate(fullwidth) + "acct " * 30,
        "İ tax id 12-3456789 and " + "tax " * 30,  # lowering changes the length: no hints
    ):
        assert not text.isascii()
        assert scanned(text) == whole_text(text), text
    assert scanned("my SSN is 512-48-7736".translate(arabic)) == ["ob_ssn"]


def test_ascii_twins_read_ascii_text_as_the_unicode_patterns_do() -> None:
    # \s differs on ASCII text (Unicode counts \x1c-\x1f as space): such patterns keep
    # their own form, the others get one compiled with re.ASCII.
    pair = RULES["ob_credential_pair"]
    assert pair.ascii_pattern is pair.pattern
    assert RULES["ob_ssn"].ascii_pattern.flags & re.ASCII
    text = "username: jdoe\x1cpassword: hunter2\x1dpin\x1e: 1234"
    assert text.isascii()
    found = scanned(text)
    assert "ob_credential_pair" in found and found == whole_text(text)
    for rule in TEXT_RULES:
        twin = ascii_twin(rule.pattern)
        assert (twin is rule.pattern) is (
            "\\s" in rule.pattern.pattern or "\\S" in rule.pattern.pattern
        )


def _random_text(rng: random.Random) -> str:
    digits = string.digits
    pieces = [
        lambda: "".join(rng.choice(digits) for _ in range(rng.randint(1, 20))),
        lambda: rng.choice(" -.()+/:#\n\t"),
        lambda: rng.choice(["4111", "512", "48", "7736", "192.168.", "10.", "0x", "bc1", "DE89"]),
        lambda: rng.choice(["ssn", "account no", "routing", "tax id", "pin:", "dob ", "A-number"]),
        lambda: rng.choice(["x" * rng.randint(1, 120), " the ", "İ", "٣", "é", "\x1c"]),
        lambda: rng.choice([t for _, t in FAR_REACHING]),
    ]
    return "".join(rng.choice(pieces)() for _ in range(rng.randint(1, 40)))


def test_random_texts_find_what_a_whole_text_pass_finds() -> None:
    rng = random.Random(20261207)
    fired = windowed = whole = 0
    for _ in range(1500):
        text = _random_text(rng)
        found = scanned(text)
        assert found == whole_text(text), text
        runs = _TextFacts(text).runs
        fired += bool(found)
        windowed += bool(runs)
        whole += runs is None
    # Both ways of scanning are exercised, on texts that do hold findings.
    assert fired > 500 and windowed > 1000 and whole > 100
