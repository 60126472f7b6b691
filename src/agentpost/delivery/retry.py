"""When to try again: exponential backoff with jitter, bounded by the row's deadline.

RFC 5321 §4.5.4.1: a sender retries a transient failure (4yz reply, or no usable answer at
all) after a delay that grows between attempts, and gives up after a period of days; a 5yz
reply is permanent and is never retried. The jitter spreads retries of a burst of messages
(one provider outage defers them all at once) so they do not return in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 60.0
    max_seconds: float = 3600.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: base·2^(n-1), capped, then
        scaled by a random factor in [0.5, 1) ("equal jitter")."""
        exponent = min(max(attempts - 1, 0), 30)
        ceiling = min(self.base_seconds * (2**exponent), self.max_seconds)
        factor = 0.5 + 0.5 * (rng or random).random()
        return timedelta(seconds=ceiling * factor)


def is_permanent(code: int | None) -> bool:
    """5yz replies are permanent; 4yz replies and network failures (no code) are not."""
    return code is not None and 500 <= code < 600


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    next_attempt_at: datetime | None = None
    expired: bool = False  # failed because the deadline passed, not because of a 5yz


def decide(
    *,
    code: int | None,
    ok: bool,
    attempts: int,
    now: datetime,
    deadline: datetime,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Decision:
    """What becomes of a recipient after an attempt (``attempts`` counts this one)."""
    if ok:
        return Decision(Verdict.DELIVERED)
    if is_permanent(code):
        return Decision(Verdict.FAILED)
    if now >= deadline:
        return Decision(Verdict.FAILED, expired=True)
    # The last retry lands on the deadline rather than past it.
    return Decision(Verdict.DEFERRED, min(now + policy.delay(attempts, rng), deadline))
