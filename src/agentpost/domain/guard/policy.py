"""What to do with findings, by who receives the mail: the per-agent guard policy.

Recipients fall in four classes: the owner (their own address and allow-listed domains),
other agents on this server, the agent's known contacts, and strangers. For each class and
severity the policy names an action: ``allow`` (say nothing), ``warn`` (send, with the
findings attached to the result) or ``hold`` (keep the message for the owner's approval).
The message gets the strictest action over all its recipients and findings, so adding one
outsider to an internal thread (in to, cc or bcc) is enough to hold it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from agentpost.domain.guard.model import Finding, Severity


class RecipientClass(enum.StrEnum):
    owner = "owner"
    agent = "agent"
    contact = "contact"
    stranger = "stranger"


class Action(enum.StrEnum):
    allow = "allow"
    warn = "warn"
    hold = "hold"

    @property
    def rank(self) -> int:
        return ("allow", "warn", "hold").index(self.value)


Table = dict[RecipientClass, dict[Severity, Action]]

H, M, L = Severity.high, Severity.medium, Severity.low
A, W, HOLD = Action.allow, Action.warn, Action.hold
DEFAULT_ACTIONS: Table = {
    RecipientClass.owner: {H: W, M: W, L: A},
    RecipientClass.agent: {H: W, M: W, L: A},
    RecipientClass.contact: {H: HOLD, M: W, L: A},
    RecipientClass.stranger: {H: HOLD, M: W, L: W},
}
MAX_DOMAINS = 100


class PolicyError(ValueError):
    """A policy document that cannot be used; ``field`` names the part at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    actions: Table = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_ACTIONS.items()})
    allow_domains: tuple[str, ...] = ()
    disabled_rules: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "actions": {
                cls.value: {sev.value: act.value for sev, act in row.items()}
                for cls, row in self.actions.items()
            },
            "allowDomains": list(self.allow_domains),
            "disabledRules": list(self.disabled_rules),
        }


def parse_policy(data: dict[str, Any], known_rules: frozenset[str]) -> GuardPolicy:
    """A policy from its JSON form; missing parts take the defaults. Raises PolicyError."""
    if not isinstance(data, dict):
        raise PolicyError("the policy must be a JSON object", "policy")
    actions = {k: dict(v) for k, v in DEFAULT_ACTIONS.items()}
    given = data.get("actions") or {}
    if not isinstance(given, dict):
        raise PolicyError("actions must map recipient classes to severities", "actions")
    for cls_name, row in given.items():
        try:
            cls = RecipientClass(cls_name)
        except ValueError:
            raise PolicyError(
                f"unknown recipient class {cls_name!r}: use owner, agent, contact or stranger",
                "actions",
            ) from None
        if not isinstance(row, dict):
            raise PolicyError(f"actions.{cls_name} must map severities to actions", "actions")
        for sev_name, act_name in row.items():
            try:
                actions[cls][Severity(str(sev_name).upper())] = Action(str(act_name).lower())
            except ValueError:
                raise PolicyError(
                    f"actions.{cls_name}.{sev_name}: severities are HIGH, MEDIUM, LOW and "
                    "actions are allow, warn, hold",
                    "actions",
                ) from None
    return GuardPolicy(actions, _domains(data.get("allowDomains")), _rules(data, known_rules))


def _domains(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_DOMAINS:
        raise PolicyError(f"allowDomains must be a list of at most {MAX_DOMAINS}", "allowDomains")
    out: list[str] = []
    for item in value:
        name = str(item).strip().lower().lstrip("@")
        if not name or "." not in name or any(ch in name for ch in " @/\\\r\n\t"):
            raise PolicyError(f"{item!r} is not a domain name such as example.com", "allowDomains")
        if name not in out:
            out.append(name)
    return tuple(out)


def _rules(data: dict[str, Any], known: frozenset[str]) -> tuple[str, ...]:
    value = data.get("disabledRules") or []
    if not isinstance(value, list):
        raise PolicyError("disabledRules must be a list of rule ids", "disabledRules")
    unknown = sorted({str(v) for v in value} - known)
    if unknown:
        raise PolicyError(f"unknown rule ids: {', '.join(unknown)}", "disabledRules")
    return tuple(sorted({str(v) for v in value}))


def action_for(
    policy: GuardPolicy, findings: list[Finding], classes: set[RecipientClass]
) -> tuple[Action, list[Finding]]:
    """The strictest action over every (recipient class, finding) pair, and the findings
    that still count (disabled rules dropped)."""
    live = [f for f in findings if f.rule_id not in policy.disabled_rules]
    action = Action.allow
    for finding in live:
        for cls in classes:
            candidate = policy.actions[cls][finding.severity]
            if candidate.rank > action.rank:
                action = candidate
    return action, live
