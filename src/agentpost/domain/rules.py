"""Delivery rules as data: validating a rule's conditions and actions, and matching a message.

A rule is conditions (all must hold; none at all matches every message) and actions. Rules
are checked in priority order (highest first, then oldest) and the first rule that matches is
the one applied, as in the reference. Comparisons ignore case.

``subject_regex`` is user input run against untrusted subjects, so it is bounded twice: a
pattern with a nested unbounded quantifier (``(a+)+``, ``(\\w*\\s)*``, the shapes of
catastrophic backtracking) is refused when the rule is made, and every match runs under a
timeout (the ``regex`` module's) and counts as no match if it runs out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import regex

MAX_PATTERN_CHARS = 500
MAX_TEXT_CONDITION_CHARS = 500
MAX_TAGS_PER_RULE = 20
REGEX_TIMEOUT_SECONDS = 0.05
CONDITION_KEYS = ("from_contains", "subject_contains", "subject_regex", "to_contains")
ALL_CONDITIONS = (*CONDITION_KEYS, "has_attachment")
ALL_ACTIONS = ("move_to", "mark_read", "delete", "add_tags")


class RuleError(ValueError):
    """A rule that cannot be used; ``field`` names the part at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Conditions:
    from_contains: str | None = None
    subject_contains: str | None = None
    subject_regex: str | None = None
    to_contains: str | None = None
    has_attachment: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ALL_CONDITIONS if getattr(self, k) is not None}


@dataclass(frozen=True, slots=True)
class Actions:
    move_to: str | None = None
    mark_read: bool = False
    delete: bool = False
    add_tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.move_to is not None:
            out["move_to"] = self.move_to
        if self.mark_read:
            out["mark_read"] = True
        if self.delete:
            out["delete"] = True
        if self.add_tags:
            out["add_tags"] = list(self.add_tags)
        return out


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What rules look at in a message (addresses lower-cased by the caller or here)."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    has_attachment: bool


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    name: str
    conditions: Conditions
    actions: Actions
    pattern: regex.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, facts: MessageFacts) -> bool:
        return matches(self.conditions, facts, self.pattern)


def _text(conditions: dict[str, Any], key: str) -> str | None:
    value = conditions.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"conditions.{key} must be a non-empty string", f"conditions.{key}")
    if len(value) > MAX_TEXT_CONDITION_CHARS:
        raise RuleError(
            f"conditions.{key} must be at most {MAX_TEXT_CONDITION_CHARS} characters",
            f"conditions.{key}",
        )
    return value


def parse_conditions(raw: Any) -> Conditions:
    if raw is None:
        return Conditions()
    if not isinstance(raw, dict):
        raise RuleError("conditions must be an object", "conditions")
    unknown = sorted(set(raw) - set(ALL_CONDITIONS))
    if unknown:
        raise RuleError(
            f"unknown condition {unknown[0]!r}; use {', '.join(ALL_CONDITIONS)}", "conditions"
        )
    has_attachment = raw.get("has_attachment")
    if has_attachment is not None and not isinstance(has_attachment, bool):
        raise RuleError("conditions.has_attachment must be true or false", "conditions")
    pattern = _text(raw, "subject_regex")
    if pattern is not None:
        compile_pattern(pattern)
    return Conditions(
        from_contains=_text(raw, "from_contains"),
        subject_contains=_text(raw, "subject_contains"),
        subject_regex=pattern,
        to_contains=_text(raw, "to_contains"),
        has_attachment=has_attachment,
    )


def parse_actions(raw: Any) -> Actions:
    """The actions of a rule; at least one is required (a rule that does nothing is a mistake).
    Folder names are checked by the caller, which knows the mailbox."""
    if not isinstance(raw, dict) or not raw:
        raise RuleError(
            f"actions must be an object with one of {', '.join(ALL_ACTIONS)}", "actions"
        )
    unknown = sorted(set(raw) - set(ALL_ACTIONS))
    if unknown:
        raise RuleError(f"unknown action {unknown[0]!r}; use {', '.join(ALL_ACTIONS)}", "actions")
    move_to = raw.get("move_to")
    if move_to is not None and (not isinstance(move_to, str) or not move_to.strip()):
        raise RuleError("actions.move_to must be a folder name", "actions.move_to")
    for flag in ("mark_read", "delete"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise RuleError(f"actions.{flag} must be true or false", f"actions.{flag}")
    tags = _tag_names(raw.get("add_tags"))
    actions = Actions(
        move_to=move_to.strip() if isinstance(move_to, str) else None,
        mark_read=bool(raw.get("mark_read", False)),
        delete=bool(raw.get("delete", False)),
        add_tags=tags,
    )
    if not actions.to_dict():
        raise RuleError("actions must do something: every action given is off", "actions")
    if actions.delete and actions.move_to is not None:
        raise RuleError("use either delete (to Trash) or move_to, not both", "actions")
    return actions


def _tag_names(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        raise RuleError("actions.add_tags must be a list of tag names", "actions.add_tags")
    if len(raw) > MAX_TAGS_PER_RULE:
        raise RuleError(
            f"actions.add_tags may name at most {MAX_TAGS_PER_RULE} tags", "actions.add_tags"
        )
    names = {t.strip().lower(): t.strip() for t in raw}
    return tuple(names.values())


def _nested_quantifier(pattern: str) -> bool:
    """True when a group holding an unbounded quantifier is itself repeated without bound:
    the shape behind exponential backtracking. A plain scan is enough: it may refuse a few
    safe patterns, never accept ``(x+)+``."""
    stack: list[bool] = []  # per open group: does it contain an unbounded quantifier?
    inner = False
    escaped = in_class = False
    for position, char in enumerate(pattern):
        if escaped:
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            stack.append(inner)
            inner = False
        elif char == ")" and stack:
            group_inner = inner
            inner = stack.pop() or group_inner
            if group_inner and _unbounded_at(pattern, position + 1):
                return True
        elif char in "*+" or (char == "{" and _unbounded_at(pattern, position)):
            inner = True
    return False


def _unbounded_at(pattern: str, position: int) -> bool:
    """Whether the quantifier starting at ``position`` (if any) has no upper bound."""
    if position >= len(pattern):
        return False
    char = pattern[position]
    if char in "*+":
        return True
    if char == "{":
        end = pattern.find("}", position)
        return end > 0 and pattern[position + 1 : end].rstrip().endswith(",")
    return False


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RuleError(
            f"subject_regex must be at most {MAX_PATTERN_CHARS} characters",
            "conditions.subject_regex",
        )
    if _nested_quantifier(pattern):
        raise RuleError(
            "subject_regex repeats a group that itself repeats (like (a+)+): such patterns can "
            "take exponential time on some subjects; rewrite it without the nested repetition",
            "conditions.subject_regex",
        )
    try:
        return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)
    except regex.error as exc:
        raise RuleError(
            f"subject_regex is not a valid pattern: {exc}", "conditions.subject_regex"
        ) from None


def compile_rule(rule_id: str, name: str, conditions: Any, actions: Any) -> CompiledRule:
    """A stored rule ready for matching (stored rules were validated when they were made)."""
    parsed = parse_conditions(conditions)
    pattern = compile_pattern(parsed.subject_regex) if parsed.subject_regex else None
    return CompiledRule(rule_id, name, parsed, parse_actions(actions), pattern)


def matches(
    conditions: Conditions, facts: MessageFacts, pattern: regex.Pattern[str] | None = None
) -> bool:
    if conditions.from_contains and conditions.from_contains.lower() not in facts.sender.lower():
        return False
    subject = facts.subject.lower()
    if conditions.subject_contains and conditions.subject_contains.lower() not in subject:
        return False
    if conditions.to_contains:
        wanted = conditions.to_contains.lower()
        if not any(wanted in r.lower() for r in facts.recipients):
            return False
    if conditions.has_attachment is not None and conditions.has_attachment != facts.has_attachment:
        return False
    if conditions.subject_regex:
        compiled = pattern or compile_pattern(conditions.subject_regex)
        try:
            found = compiled.search(facts.subject, timeout=REGEX_TIMEOUT_SECONDS)
        except TimeoutError:
            return False  # a pattern too slow for this subject does not match it
        if found is None:
            return False
    return True


def first_match(rules: list[CompiledRule], facts: MessageFacts) -> CompiledRule | None:
    """The rule to apply: the first, in the given (priority) order, whose conditions hold."""
    return next((rule for rule in rules if rule.matches(facts)), None)
