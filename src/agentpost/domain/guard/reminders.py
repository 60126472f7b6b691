"""When an agent is reminded of its held mail (the reference's follow-up schedule).

Within a cycle the reminders come 12 h after the hold, then 6 h, 3 h and 1 h after the
previous one (at 12, 18, 21 and 22 h); a 3-day cooldown follows, and each new cycle opens
with one "new cycle" reminder and repeats the 12/6/3/1 h steps: 12, 18, 21, 22, 94, 106, 112,
115, 116, 188 h and so on. Reminders stop when the item is resolved or expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

STEPS_HOURS = (12, 18, 21, 22)  # 12 h, then +6, +3, +1
COOLDOWN_HOURS = 72
CYCLE_HOURS = STEPS_HOURS[-1] + COOLDOWN_HOURS  # 94


@dataclass(frozen=True, slots=True)
class Reminder:
    at: datetime
    cycle: int  # 0 for the first cycle
    number: int  # 0: the "new cycle" reminder; 1..4: the steps
    final: bool  # the last step before a cooldown


def _offsets(cycle: int) -> list[tuple[int, int]]:
    base = cycle * CYCLE_HOURS
    steps = [(base + hours, number) for number, hours in enumerate(STEPS_HOURS, start=1)]
    return ([(base, 0)] if cycle else []) + steps


def _reminder(held_at: datetime, cycle: int, hours: int, number: int) -> Reminder:
    return Reminder(held_at + timedelta(hours=hours), cycle, number, number == len(STEPS_HOURS))


def last_due(held_at: datetime, now: datetime) -> Reminder | None:
    """The most recent reminder at or before ``now``, or None before the first."""
    elapsed = (now - held_at).total_seconds() / 3600
    if elapsed < STEPS_HOURS[0]:
        return None
    cycle = int(elapsed // CYCLE_HOURS)
    due = [(h, n) for h, n in _offsets(cycle) if h <= elapsed]
    if not due:  # between a cycle start and nothing: cannot happen, cycles start with one
        return None
    hours, number = due[-1]
    return _reminder(held_at, cycle, hours, number)


def next_after(held_at: datetime, now: datetime, expires_at: datetime) -> datetime | None:
    """The next reminder strictly after ``now``, or None when the item expires first."""
    elapsed = (now - held_at).total_seconds() / 3600
    cycle = max(0, int(elapsed // CYCLE_HOURS))
    for candidate_cycle in (cycle, cycle + 1):
        for hours, _ in _offsets(candidate_cycle):
            if hours > elapsed:
                at = held_at + timedelta(hours=hours)
                return at if at < expires_at else None
    return None


def describe(reminder: Reminder) -> str:
    """``follow-up reminder 2/4``, ``final follow-up``, or ``follow-up, cycle 2``."""
    if reminder.number == 0:
        return f"follow-up reminder, cycle {reminder.cycle + 1}"
    if reminder.final:
        return "final follow-up before a 3-day pause"
    return f"follow-up reminder {reminder.number}/{len(STEPS_HOURS)}"
