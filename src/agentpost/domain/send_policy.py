"""Recipient patterns of agent permissions, and sliding-window arithmetic. Pure logic, no I/O.

A pattern is one of:

* an exact address, ``ops@example.com`` (compared case-insensitively);
* a whole domain, ``*@example.com`` (the domain itself, not its subdomains);
* a regular expression between slashes, ``/^(sales|ops)@example\\.com$/``, matched
  case-insensitively against the whole address.

Regular expressions are checked when they are saved: they must compile, stay short, and must
not nest unbounded repetition (``(a+)+``, ``(a|aa)*``), the shapes whose backtracking grows
exponentially with the input (catastrophic backtracking, so one address could stall a send).
"""

from __future__ import annotations

import math
import re
import re._parser as sre_parse  # type: ignore[import-not-found]  # the stdlib's own parser
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentpost.domain.addresses import is_valid_address

MAX_PATTERNS = 100
MAX_REGEX_LENGTH = 200
_DOMAIN_RE = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT)


class PatternError(ValueError):
    """A recipient pattern that cannot be used; the message says why and what to write."""


def normalize_pattern(pattern: str) -> str:
    """The stored form of ``pattern``; raises ``PatternError`` when it is unusable."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PatternError("a recipient pattern must be a non-empty string")
    value = pattern.strip()
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        check_regex(value[1:-1])
        return value
    value = value.lower()
    if value.startswith("*@"):
        if not _DOMAIN_RE.match(value[2:]):
            raise PatternError(f"{pattern!r}: *@ must be followed by a domain such as example.com")
        return value
    if not is_valid_address(value):
        raise PatternError(
            f"{pattern!r} is neither an address, *@domain, nor a /regex/ "
            "(e.g. ops@example.com, *@example.com, /^ops-.*@example\\.com$/)"
        )
    return value


def normalize_patterns(patterns: Iterable[str]) -> list[str]:
    """Stored forms, duplicates dropped, order kept."""
    result = list(dict.fromkeys(normalize_pattern(p) for p in patterns))
    if len(result) > MAX_PATTERNS:
        raise PatternError(f"at most {MAX_PATTERNS} recipient patterns")
    return result


def check_regex(source: str) -> None:
    """Refuse regular expressions that are invalid, too long, or prone to catastrophic
    backtracking (an unbounded repeat around another unbounded repeat or an alternation)."""
    if not source:
        raise PatternError("an empty /regex/ matches nothing useful; write the addresses")
    if len(source) > MAX_REGEX_LENGTH:
        raise PatternError(f"a /regex/ pattern must be at most {MAX_REGEX_LENGTH} characters")
    try:
        parsed = sre_parse.parse(source, re.IGNORECASE)
    except re.error as exc:
        raise PatternError(f"/{source}/ is not a valid regular expression: {exc}") from exc
    if _risky(list(parsed), inside_repeat=False):
        raise PatternError(
            f"/{source}/ nests repetition (like (a+)+ or (a|b)*), which can take exponential "
            "time on some addresses; list the addresses or use *@domain instead"
        )


def _risky(items: Sequence[tuple[Any, Any]], *, inside_repeat: bool) -> bool:
    for op, arg in items:
        if op in _REPEATS:
            _low, high, body = arg
            unbounded = high == sre_parse.MAXREPEAT or high > 100
            if inside_repeat and unbounded:
                return True
            if _risky(list(body), inside_repeat=inside_repeat or unbounded):
                return True
        elif op is sre_parse.BRANCH:
            if inside_repeat:
                return True
            if any(_risky(list(branch), inside_repeat=False) for branch in arg[1]):
                return True
        elif op is sre_parse.SUBPATTERN:
            if _risky(list(arg[-1]), inside_repeat=inside_repeat):
                return True
        elif op in (sre_parse.GROUPREF, sre_parse.GROUPREF_EXISTS):
            raise PatternError("back-references are not allowed in recipient patterns")
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT, sre_parse.ATOMIC_GROUP):
            body = arg[1] if op is not sre_parse.ATOMIC_GROUP else arg
            if _risky(list(body), inside_repeat=inside_repeat):
                return True
    return False


def recipient_allowed(patterns: Sequence[str], address: str) -> bool:
    """Whether ``address`` matches one of ``patterns`` (no patterns: any recipient)."""
    if not patterns:
        return True
    address = address.lower()
    domain = address.rpartition("@")[2]
    for pattern in patterns:
        if pattern.startswith("/") and pattern.endswith("/") and len(pattern) >= 2:
            if re.fullmatch(pattern[1:-1], address, re.IGNORECASE):
                return True
        elif pattern.startswith("*@"):
            if domain == pattern[2:]:
                return True
        elif pattern == address:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding window: at most ``limit`` sends in any ``length`` (None: no limit)."""

    name: str
    scope: str  # agent | configuration
    limit: int | None
    length: timedelta


def window_start(now: datetime, length: timedelta) -> datetime:
    """Sends at or before this instant have left the window ``(now - length, now]``."""
    return now - length


def resets_at(oldest_counted: datetime, length: timedelta) -> datetime:
    """When the oldest send still in the window leaves it, freeing one slot."""
    return oldest_counted + length


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds to wait (at least 1), for Retry-After (RFC 9110 §10.2.3)."""
    return max(1, math.ceil((moment - now).total_seconds()))
