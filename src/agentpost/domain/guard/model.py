"""The vocabulary of the outbound guard: severities, rule families, rules and findings.

A finding names the rule that matched and where (subject, body, an attachment), never the
matched text: findings are shown to agents, owners and the audit log, and the matched text is
exactly what must not travel further.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
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
    gates: tuple[re.Pattern[str], ...] = ()


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
