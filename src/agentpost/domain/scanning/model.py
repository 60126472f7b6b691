"""The shapes every scanner returns: named rule matches and the combined report.

A ``Match`` is one rule that fired (id, category, weight, a plain description). The report
sums the weights into the spam score and keeps the other findings (sanitizer detections,
attachment risk, authentication results, automated-mail signs) for the trust envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SPAM_THRESHOLD = 40  # issue 4 / upstream: a score of 40 or more is spam
WARNING_THRESHOLD = 20  # 20-39 is a warning

PROMPT_INJECTION = "prompt_injection"
SOCIAL_ENGINEERING = "social_engineering"
DATA_EXFILTRATION = "data_exfiltration"
PHISHING = "phishing"
AUTHENTICATION = "authentication"
ATTACHMENT_RISK = "attachment_risk"
HEADER_ANOMALY = "header_anomaly"
CONTENT_SPAM = "content_spam"
LINK_ANALYSIS = "link_analysis"
SENDER_REPUTATION = "sender_reputation"

INJECTION_CATEGORIES = frozenset({PROMPT_INJECTION, SOCIAL_ENGINEERING, DATA_EXFILTRATION})
# Rule ids outside the phishing category that read views list with the phishing alerts.
PHISHING_ALERT_IDS = frozenset({"de_webhook_exfil", "pi_invisible_unicode", "pi_hidden_html"})


@dataclass(frozen=True, slots=True)
class Match:
    rule_id: str
    category: str
    score: int
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id,
            "category": self.category,
            "score": self.score,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Match:
        return cls(
            str(data["ruleId"]), str(data["category"]), int(data["score"]), str(data["description"])
        )


@dataclass(frozen=True, slots=True)
class Detection:
    """One kind of content the sanitizer removed or marked, with how often it occurred."""

    kind: str
    description: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "description": self.description, "count": self.count}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detection:
        return cls(str(data["type"]), str(data["description"]), int(data["count"]))


@dataclass(frozen=True, slots=True)
class AttachmentRisk:
    filename: str
    level: str  # CRITICAL | HIGH | MEDIUM
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "level": self.level, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttachmentRisk:
        return cls(str(data["filename"]), str(data["level"]), str(data["reason"]))


@dataclass(frozen=True, slots=True)
class AuthResults:
    """SPF, DKIM and DMARC verdicts as the receiving hops recorded them (RFC 8601)."""

    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None

    @property
    def present(self) -> bool:
        return any((self.spf, self.dkim, self.dmarc))

    @property
    def failed(self) -> bool:
        return "fail" in (self.dmarc, self.dkim) or self.spf in ("fail", "softfail")

    @property
    def passed(self) -> bool:
        """Authenticated: DMARC passed, or nothing failed and SPF or DKIM passed."""
        if self.dmarc == "pass":
            return True
        return not self.failed and "pass" in (self.spf, self.dkim)

    def to_dict(self) -> dict[str, Any]:
        return {"spf": self.spf, "dkim": self.dkim, "dmarc": self.dmarc}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthResults:
        return cls(data.get("spf"), data.get("dkim"), data.get("dmarc"))


@dataclass(slots=True)
class ScanReport:
    """Everything the content checks found in one message."""

    matches: list[Match] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    attachments: list[AttachmentRisk] = field(default_factory=list)
    auth: AuthResults = field(default_factory=AuthResults)
    automated: list[str] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(m.score for m in self.matches)

    @property
    def is_spam(self) -> bool:
        return self.score >= SPAM_THRESHOLD

    @property
    def is_warning(self) -> bool:
        return WARNING_THRESHOLD <= self.score < SPAM_THRESHOLD

    @property
    def injection(self) -> list[Match]:
        """Attempts to steer the reader: injection, social engineering, exfiltration."""
        return [m for m in self.matches if m.category in INJECTION_CATEGORIES]

    @property
    def injection_score(self) -> int:
        return sum(m.score for m in self.injection)

    @property
    def top_category(self) -> str | None:
        """The category with the largest summed score; ties go to the earliest match."""
        totals: dict[str, int] = {}
        for m in self.matches:
            totals[m.category] = totals.get(m.category, 0) + m.score
        best: str | None = None
        for category, total in totals.items():  # dicts keep first-match order
            if best is None or total > totals[best]:
                best = category
        return best

    @property
    def phishing(self) -> list[Match]:
        return [
            m for m in self.matches if m.category == PHISHING or m.rule_id in PHISHING_ALERT_IDS
        ]

    def add(self, match: Match) -> None:
        if all(m.rule_id != match.rule_id for m in self.matches):
            self.matches.append(match)

    def to_dict(self) -> dict[str, Any]:
        return {
            "matches": [m.to_dict() for m in self.matches],
            "detections": [d.to_dict() for d in self.detections],
            "attachments": [a.to_dict() for a in self.attachments],
            "auth": self.auth.to_dict(),
            "automated": list(self.automated),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanReport:
        return cls(
            matches=[Match.from_dict(m) for m in data.get("matches", [])],
            detections=[Detection.from_dict(d) for d in data.get("detections", [])],
            attachments=[AttachmentRisk.from_dict(a) for a in data.get("attachments", [])],
            auth=AuthResults.from_dict(data.get("auth") or {}),
            automated=[str(a) for a in data.get("automated", [])],
        )
