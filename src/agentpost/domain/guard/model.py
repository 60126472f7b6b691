"""The vocabulary of the outbound guard: severities, rule families, rules and findings.

A finding names the rule that matched and where (subject, body, an attachment), never the
matched text: findings are shown to agents, owners and the audit log, and the matched text is
exactly what must not travel further.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    """HIGH holds mail to outsiders by default, MEDIUM warns, LOW is a note."""

    high = "HIGH"
    medium = "MEDIUM"
    low = "LOW"

    @property
    def rank(self) -> int:
        return {"HIGH": 3, "MEDIUM": 2, "LOW": 1}[self.value]


class Family(enum.StrEnum):
    pii = "pii"
    credential = "credential"
    system_internal = "system_internal"
    owner_privacy = "owner_privacy"
    attachment_risk = "attachment_risk"


# A match starts at most this far before a hint occurrence (keyword rules), and by default
# ends at most REACH characters after it (patterns are bounded, see pii_rules.py).
LOOKBACK = 200
REACH = 320

# A validator gets one regex match and says whether it is a real hit (a checksum, say).
Validator = Callable[[re.Match[str]], bool]

# Gates (see TextRule.gates) shared by many rules, so the scanner searches a text for each once.
# A gate opens with a single character class, never a repeat such as ``\d{6}``: only then can
# the regex engine skip ahead to a candidate character instead of trying every position.
DIGIT = re.compile(r"\d")
LONG_NUMBER = re.compile(r"\d\d{5}")

_twins: dict[tuple[str, int], re.Pattern[str]] = {}


def ascii_twin(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` compiled for ASCII-only text, which it reads exactly as ``pattern`` does,
    only faster: ``\\d``, ``\\w`` and ``\\b`` test a small table instead of Unicode's, and case
    folding stays within ASCII (a digit rule's pass over a body costs about a quarter less).

    ``\\s`` differs even on ASCII text (Unicode also counts \\x1c-\\x1f as space), so a
    pattern using ``\\s`` or ``\\S`` is its own twin, as is DIGIT (the scanner answers that gate
    without the regex engine). Twins are shared, so the scanner's per-text caches keyed by
    pattern identity still see one gate as one."""
    source = pattern.pattern
    if pattern is DIGIT or pattern.flags & re.ASCII or "\\s" in source or "\\S" in source:
        return pattern
    key = (source, pattern.flags)
    twin = _twins.get(key)
    if twin is None:
        twin = _twins[key] = re.compile(source, (pattern.flags & ~re.UNICODE) | re.ASCII)
    return twin


@dataclass(frozen=True, slots=True)
class TextRule:
    """A content rule: a pattern (optionally confirmed by a validator) over decoded text.

    ``requires`` is a second pattern that must also occur somewhere in the same text (for
    rules such as wire instructions, which need both an instruction and account details).
    ``hints`` lets the scanner skip a keyword rule on text that cannot contain its keyword,
    and ``gates`` any rule on text that cannot contain what it needs (digits, mostly).
    """

    id: str
    family: Family
    severity: Severity
    description: str
    pattern: re.Pattern[str]
    validator: Validator | None = None
    requires: re.Pattern[str] | None = None
    # A second pattern that needs no keyword and always runs over the whole text (``pattern``
    # is then the keyword form, skipped when no hint occurs).
    plain: re.Pattern[str] | None = None
    # Lower-case words of which at least one must occur for the rule to apply at all: a
    # substring test over the whole text costs far less than running the pattern.
    hints: tuple[str, ...] = ()
    # How far past the start of a hint a match can end; the scanner then only runs the
    # pattern near hints. None: the match can be long, scan the whole text.
    reach: int | None = None
    # Cheap patterns, each sure to find something in any text the rule can fire on (a digit
    # that every accepted match of ``pattern`` and ``plain`` contains, say), tried in order:
    # when one finds nothing the rule is skipped unrun. Put the cheapest and most shared first.
    # Each gate's match must lie inside every accepted match: gates are then searched only
    # where the rule's patterns run (near digits, see ``digit_reach``).
    gates: tuple[re.Pattern[str], ...] = ()
    # Set when every match of ``pattern`` and ``plain`` holds a digit (``\d``) and matching
    # reads at most this many characters from a match's start, lookaheads included (checked
    # against the patterns by tests/domain/test_guard_windows.py). The scanner then runs
    # ``plain``, the gates, and ``pattern`` where no keyword windows apply, only within this
    # distance of the text's digits: that finds exactly what a whole-text pass finds.
    digit_reach: int | None = None
    # ``pattern``, ``plain`` and ``gates`` for ASCII-only text (see ascii_twin), derived.
    ascii_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    ascii_plain: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    ascii_gates: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: derived fields are set the way dataclasses itself sets them.
        object.__setattr__(self, "ascii_pattern", ascii_twin(self.pattern))
        plain = None if self.plain is None else ascii_twin(self.plain)
        object.__setattr__(self, "ascii_plain", plain)
        object.__setattr__(self, "ascii_gates", tuple(ascii_twin(gate) for gate in self.gates))


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that matched, and where: ``subject``, ``body`` or ``attachment <name>``."""

    rule_id: str
    family: Family
    severity: Severity
    description: str
    where: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id,
            "family": self.family.value,
            "severity": self.severity.value,
            "description": self.description,
            "where": self.where,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule_id=str(data["ruleId"]),
            family=Family(data["family"]),
            severity=Severity(data["severity"]),
            description=str(data["description"]),
            where=str(data["where"]),
        )
