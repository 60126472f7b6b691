"""The scheduler role's reminder sweep: an agent waiting on its mail hears when a follow-up
reminder for its held mail falls due (domain/guard/reminders.py).

The sweep does not hand reminders out itself. It finds the agents that have a reminder due
and not yet handed out and publishes ``reminder.due`` to each; whatever is listening for that
agent (an ``/events`` stream, a ``/mail/wait`` long poll, in any server process) then claims
the reminders with ``pending.claim_agent_reminders`` and passes them on as one ``reminder``
event. Claiming is a conditional write, so across streams, processes, ``check_messages`` and
the pending tools each reminder is handed out exactly once. Claiming at the listener, not in
the sweep, is what keeps a reminder for an agent that is not listening: it stays unclaimed,
the next sweep announces it again, and ``check_messages`` returns it meanwhile.

A listener that claimed reminders but could not pass them on (its client went away between
the claim and the write) releases the claim (``release_reminder_event``): the reminders are
due again and announced again at once, so another listener, the next sweep or the next
``check_messages`` hands them out instead of nobody.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentpost.services import pending
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.pending import ReminderNote
from agentpost.services.periodic import Periodic
from agentpost.storage.repositories import guard as repo

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0  # reminders are hours apart: a minute late is on time
REMINDER_DUE = "reminder.due"  # the sweep's announcement; listeners claim, then emit REMINDER
REMINDER = "reminder"  # what streams and waits hand the agent: the claimed reminders


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def reminder_data(note: ReminderNote) -> dict[str, Any]:
    """One claimed reminder as it travels in events and API answers (camelCase, UTC)."""
    record = note.record
    # The same fields as POST /pending/reminders answers (createdAt: when it was held).
    return {
        "pendingId": record.id,
        "label": note.label,
        "subject": record.subject,
        "to": list(record.envelope),
        "dueAt": _iso(note.reminder.at),
        "nextReminderAt": _iso(note.next_at),
        "createdAt": _iso(record.created_at),
    }


@dataclass(frozen=True, slots=True)
class ReminderEvent(Event):
    """A ``reminder`` event and the claims it hands out, kept so a listener that cannot
    deliver it can release them. The notes never travel: the wire carries ``payload()``."""

    notes: tuple[ReminderNote, ...] = ()


async def claim_reminder_event(ctx: AppContext, agent_id: str) -> ReminderEvent | None:
    """Claim the agent's due reminders; one ``reminder`` event carrying all of them, or None
    when there were none left (another listener or a check_messages call got there first)."""
    notes = await pending.claim_agent_reminders(ctx, agent_id)
    if not notes:
        return None
    data = {"reminders": [reminder_data(n) for n in notes]}
    return ReminderEvent(agent_id, REMINDER, data, tuple(notes))


async def release_reminder_event(ctx: AppContext, event: ReminderEvent) -> int:
    """Undo the claims of an event that never reached the agent and announce them again;
    how many were released (a claim superseded by a later reminder, or an item resolved
    meanwhile, stays as it is)."""
    async with ctx.db.write() as conn:
        released = [
            await repo.release_reminder(conn, n.record.id, n.reminder.at, n.record.reminded_at)
            for n in event.notes
        ]
    if any(released):
        ctx.events.publish(Event(event.agent_id, REMINDER_DUE))
    return sum(released)


async def announce_due(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Publish ``reminder.due`` to every agent with an unclaimed due reminder; how many."""
    agents = await pending.agents_with_due_reminders(ctx, now=now or now_utc())
    for agent_id in sorted(agents):
        ctx.events.publish(Event(agent_id, REMINDER_DUE))
    return len(agents)


class ReminderSweeper(Periodic):
    """Runs ``announce_due`` every ``interval`` seconds; ``start`` it, ``close`` it."""

    name = "reminder sweep"

    def __init__(self, ctx: AppContext, *, interval: float = SWEEP_SECONDS) -> None:
        super().__init__(interval=interval)
        self._ctx = ctx

    async def sweep(self) -> None:
        announced = await announce_due(self._ctx)
        if announced:
            logger.debug("announced due reminders to %d agent(s)", announced)
