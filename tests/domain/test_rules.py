"""The rule language: validation at creation, matching, and the bounds on subject_regex."""

from __future__ import annotations

import time

import pytest

from agentpost.domain import rules
from agentpost.domain.rules import MessageFacts, RuleError


def facts(**changes: object) -> MessageFacts:
    base: dict[str, object] = {
        "sender": "Billing@Vendor.example",
        "recipients": ("alice@localhost", "team@localhost"),
        "subject": "Invoice #42 for November",
        "has_attachment": True,
    }
    return MessageFacts(**(base | changes))  # type: ignore[arg-type]


def compiled(name: str, conditions: dict[str, object], **actions: object) -> rules.CompiledRule:
    return rules.compile_rule(name, name, conditions, actions or {"mark_read": True})


def test_each_condition_matches_case_insensitively_and_all_must_hold() -> None:
    assert compiled("a", {"from_contains": "vendor.EXAMPLE"}).matches(facts())
    assert compiled("b", {"subject_contains": "INVOICE"}).matches(facts())
    assert compiled("c", {"to_contains": "TEAM@"}).matches(facts())  # any To/Cc address
    assert compiled("d", {"subject_regex": r"invoice #\d+"}).matches(facts())
    assert compiled("e", {"has_attachment": True}).matches(facts())
    assert not compiled("f", {"has_attachment": True}).matches(facts(has_attachment=False))
    assert compiled("g", {"has_attachment": False}).matches(facts(has_attachment=False))
    both = compiled("h", {"from_contains": "vendor", "subject_contains": "receipt"})
    assert not both.matches(facts())
    assert compiled("i", {}).matches(facts())  # no conditions: every message


def test_first_match_follows_the_given_order() -> None:
    low = compiled("low", {"subject_contains": "invoice"}, move_to="Bills")
    high = compiled("high", {"from_contains": "vendor"}, delete=True)
    assert rules.first_match([high, low], facts()) is high
    assert rules.first_match([low, high], facts()) is low
    assert rules.first_match([low], facts(subject="hello")) is None


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        ({"subject_regex": "(unclosed"}, "conditions.subject_regex"),
        ({"subject_regex": "(a+)+$"}, "conditions.subject_regex"),
        ({"subject_regex": r"(\w*\s)*x"}, "conditions.subject_regex"),
        ({"subject_regex": "(?:x{2,})*"}, "conditions.subject_regex"),
        ({"subject_regex": "a" * 501}, "conditions.subject_regex"),
        ({"from_contains": ""}, "conditions.from_contains"),
        ({"from_contains": 5}, "conditions.from_contains"),
        ({"has_attachment": "yes"}, "conditions"),
        ({"body_contains": "x"}, "conditions"),
        ([], "conditions"),
    ],
)
def test_bad_conditions_are_refused_with_the_field(conditions: object, field: str) -> None:
    with pytest.raises(RuleError) as caught:
        rules.parse_conditions(conditions)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "actions",
    [
        {},
        {"forward_to": "x@example.com"},
        {"mark_read": False},
        {"mark_read": "yes"},
        {"move_to": ""},
        {"delete": True, "move_to": "Archive"},
        {"add_tags": [1]},
        {"add_tags": ["t"] * 21 + ["u"]},
        None,
    ],
)
def test_bad_actions_are_refused(actions: object) -> None:
    with pytest.raises(RuleError):
        rules.parse_actions(actions)


def test_actions_round_trip_and_tags_are_deduplicated() -> None:
    parsed = rules.parse_actions({"move_to": " Bills ", "add_tags": ["Money", "money", "Q4"]})
    assert parsed.to_dict() == {"move_to": "Bills", "add_tags": ["money", "Q4"]}


def test_safe_repetition_is_accepted() -> None:
    for pattern in ["(ab)+", "a+b+", "[(+]+", "(a{2,3})*", r"^\[urgent\]", r"(re|fwd):\s*"]:
        rules.compile_pattern(pattern)


def test_a_slow_pattern_times_out_as_no_match() -> None:
    """Backtracking the static check cannot see still ends within the match time limit."""
    rule = compiled("slow", {"subject_regex": "^(a|aa)*$"})
    started = time.monotonic()
    assert not rule.matches(facts(subject="a" * 60 + "!"))
    assert time.monotonic() - started < 1.0
