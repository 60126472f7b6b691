"""Scheduled sends: create (with a ``sendAt`` phrase), list, get and cancel.

``sendAt`` is read by domain/schedule.py in the agent's zone (agent metadata ``timezone``,
an IANA name; UTC when unset), must lie in the future and at most a year ahead, and is
stored in UTC. The message is validated in full when it is scheduled (addresses, headers,
size), so a bad one is refused now rather than failing at send time. The scheduler
(services/scheduler.py) sends due rows exactly once; creating one wakes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from agentpost.domain import schedule
from agentpost.domain.schedule import ScheduleError
from agentpost.errors import Conflict, InvalidInput, ScheduledNotFound
from agentpost.services import outbox
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.outbox import SendRequest
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import scheduled as repo
from agentpost.storage.repositories.scheduled import ScheduledRecord

MAX_PENDING = 1_000
MAX_AHEAD = timedelta(days=366)
STATUSES = (repo.PENDING, repo.SENDING, repo.SENT, repo.HELD, repo.FAILED, repo.CANCELLED)
# Not an agent id (those are UUIDs): the scheduler's wake-up channel on the event bus, which
# the event relay carries to schedulers in other processes.
WAKE_CHANNEL = "@scheduler"


@dataclass(frozen=True, slots=True)
class ScheduleInput:
    to: str | list[str]
    subject: str
    send_at: str
    text: str = ""
    html: str = ""
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    signature: bool = True


def agent_zone(agent: AgentRecord) -> tzinfo:
    """The agent's zone: metadata ``timezone`` (IANA name), else UTC."""
    name = agent.metadata.get("timezone")
    if name is None or name == "":
        return schedule.zone_named("UTC")
    if not isinstance(name, str):
        raise InvalidInput("the agent's metadata timezone must be an IANA zone name")
    try:
        return schedule.zone_named(name)
    except ScheduleError as exc:
        raise InvalidInput(
            f"the agent's metadata timezone is invalid: {exc}; fix it with update_metadata",
            field="timezone",
        ) from exc


def resolve_send_at(text: str, *, now: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of ``text``; refuses unreadable, past and too distant times."""
    try:
        when = schedule.parse_send_at(text, now=now, zone=zone)
    except ScheduleError as exc:
        raise InvalidInput(str(exc), field="sendAt") from exc
    if when <= now:
        shown = schedule.display(when, zone)
        raise InvalidInput(
            f"sendAt must be in the future: {text.strip()!r} is {shown}, "
            f"and it is now {schedule.display(now, zone)}",
            field="sendAt",
        )
    if when - now > MAX_AHEAD:
        raise InvalidInput("sendAt may be at most a year ahead", field="sendAt")
    return when


async def create_scheduled(
    ctx: AppContext, agent: AgentRecord, data: ScheduleInput, *, now: datetime | None = None
) -> ScheduledRecord:
    now = now or now_utc()
    when = resolve_send_at(data.send_at, now=now, zone=agent_zone(agent))
    request = SendRequest(
        to=data.to, subject=data.subject, text=data.text, html=data.html, cc=data.cc, bcc=data.bcc
    )
    outbox.render(ctx, agent, request)  # the same validation a send gets, before storing
    scheduled_id = str(uuid.uuid4())
    values = {
        "to_addrs": _joined(data.to),
        "cc_addrs": _joined(data.cc),
        "bcc_addrs": _joined(data.bcc),
        "subject": data.subject,
        "text_body": data.text,
        "html_body": data.html or None,
        "signature": data.signature,
        "send_at": when,
    }
    async with ctx.db.write() as conn:
        if await repo.count_pending(conn, agent.id) >= MAX_PENDING:
            raise InvalidInput(
                f"at most {MAX_PENDING} pending scheduled sends per agent", code="limit_reached"
            )
        await repo.insert_scheduled(
            conn, id=scheduled_id, agent_id=agent.id, fields=values, now=now
        )
        record = await repo.get_scheduled(conn, agent.id, scheduled_id)
    if record is None:  # cannot happen: inserted in this very transaction
        raise _not_found(scheduled_id)
    ctx.events.publish(Event(WAKE_CHANNEL, "scheduled.created", {"sendAt": when.isoformat()}))
    return record


def _joined(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ", ".join(value)


async def list_scheduled(
    ctx: AppContext, agent: AgentRecord, status: str | None = None
) -> list[ScheduledRecord]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    async with ctx.db.read() as conn:
        return await repo.list_scheduled(conn, agent.id, status)


async def get_scheduled(ctx: AppContext, agent: AgentRecord, scheduled_id: str) -> ScheduledRecord:
    async with ctx.db.read() as conn:
        record = await repo.get_scheduled(conn, agent.id, scheduled_id)
    if record is None:
        raise _not_found(scheduled_id)
    return record


async def cancel_scheduled(ctx: AppContext, agent: AgentRecord, scheduled_id: str) -> None:
    """Cancel a pending send; one already being sent, sent or failed cannot be."""
    async with ctx.db.write() as conn:
        if await repo.cancel_scheduled(conn, agent.id, scheduled_id, now_utc()):
            return
        record = await repo.get_scheduled(conn, agent.id, scheduled_id)
    if record is None:
        raise _not_found(scheduled_id)
    raise Conflict(
        f"scheduled send {scheduled_id} is {record.status} and can no longer be cancelled",
        field="id",
        code="not_cancellable",
    )


def _not_found(scheduled_id: str) -> ScheduledNotFound:
    return ScheduledNotFound(
        f"no scheduled send with id {scheduled_id}; manage_scheduled list shows yours",
        field="id",
    )
