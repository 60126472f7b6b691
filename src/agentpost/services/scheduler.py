"""The scheduler role: scheduled sends go out when due, exactly once, across restarts.

The guarantee rests on two transactions per row:

1. **Claim** (committed before anything is sent): due ``pending`` rows become ``sending``
   with a fresh claim token and a lease. On PostgreSQL the claim selects with
   ``FOR UPDATE SKIP LOCKED``, so concurrent schedulers never claim the same row; SQLite
   write transactions exclude each other.
2. **Send**: ``outbox.submit_message`` stores the message, and inside that same write
   transaction the row becomes ``sent`` (only if our token still holds it; otherwise the
   send raises and rolls back). The message and its ``sent`` mark commit together or not
   at all.

A scheduler that dies between the two leaves a ``sending`` row whose send never committed;
when its lease ends another scheduler (or this one after a restart) claims it again and
sends it. A scheduler that merely stalls past its lease loses the row to the next claimer
and its late send is rolled back. So each row is stored as sent at most once, and a row is
retried until it is sent, refused (``failed``) or out of attempts. Delivery to external
servers is then the delivery worker's job, with its own durable queue.

The loop sleeps until the next due time (or lease end), at most ``scheduler_poll_seconds``,
and wakes at once when a send is scheduled (an event on the bus, relayed between
processes). Alongside it runs the held-mail reminder sweep
(services/reminder_sweeper.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.errors import AgentPostError, RateLimited
from agentpost.services import audit, outbox
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.services.outbox import SendRequest
from agentpost.services.reminder_sweeper import ReminderSweeper
from agentpost.services.scheduled import WAKE_CHANNEL
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import accounts as account_repo
from agentpost.storage.repositories import scheduled as repo
from agentpost.storage.repositories.scheduled import ScheduledRecord

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
BATCH = 20
MAX_ATTEMPTS = 5
RETRY_DELAYS = (60, 300, 900, 3600)  # seconds, after a rate-limit refusal
IDLE_WHEN_CONTENDED = 0.2  # a due row another scheduler holds: look again shortly


class LostClaim(Exception):
    """Our lease ran out and another scheduler took the row; our send must roll back."""


def _request(record: ScheduledRecord) -> SendRequest:
    return SendRequest(
        to=record.to,
        cc=record.cc,
        bcc=record.bcc,
        subject=record.subject,
        text=record.text,
        html=record.html or "",
        signature=record.signature,
    )


async def run_due(ctx: AppContext, *, now: datetime | None = None, limit: int = BATCH) -> int:
    """Claim up to ``limit`` due rows and send each; returns how many were claimed."""
    now = now or now_utc()
    token = str(uuid.uuid4())
    async with ctx.db.write() as conn:
        claimed = await repo.claim_due(
            conn, now=now, token=token, lease_until=now + LEASE, limit=limit
        )
    for record in claimed:
        await _send_one(ctx, record, token)
    return len(claimed)


async def _send_one(ctx: AppContext, record: ScheduledRecord, token: str) -> None:
    async with ctx.db.read() as conn:
        agent = await account_repo.agent_by_id(conn, record.agent_id)
    if agent is None:  # rows go with their agent; this covers a deletion mid-claim
        await _fail(ctx, None, record, token, "the agent no longer exists")
        return
    if record.attempts > MAX_ATTEMPTS:
        await _fail(ctx, agent, record, token, f"gave up after {MAX_ATTEMPTS} attempts")
        return

    async def mark_sent(conn: AsyncConnection, message_id: str) -> None:
        if not await repo.finish(
            conn, record.id, token, status=repo.SENT, now=now_utc(), message_id=message_id
        ):
            raise LostClaim(record.id)

    try:
        result = await outbox.submit_message(ctx, agent, _request(record), within=mark_sent)
        if result.held is not None:
            await _note_held(ctx, record, result.held.pending_id)
    except LostClaim:
        logger.info("scheduled send %s was taken over by another scheduler", record.id)
    except RateLimited as exc:
        await _retry_later(ctx, record, token, f"{exc.code}: {exc.message}")
    except AgentPostError as exc:
        await _fail(ctx, agent, record, token, f"{exc.code}: {exc.message}")
    except Exception:
        # Database trouble or a bug: the claim stays; its lease ends and the row is retried.
        logger.exception("scheduled send %s failed unexpectedly; it will be retried", record.id)


async def _note_held(ctx: AppContext, record: ScheduledRecord, pending_id: str) -> None:
    note = f"held by the outbound guard for your owner's approval (pending {pending_id})"
    async with ctx.db.write() as conn:
        await repo.mark_held(conn, record.id, note, now_utc())


async def _retry_later(ctx: AppContext, record: ScheduledRecord, token: str, error: str) -> None:
    delay = RETRY_DELAYS[min(record.attempts, len(RETRY_DELAYS)) - 1]
    now = now_utc()
    async with ctx.db.write() as conn:
        await repo.release(
            conn, record.id, token, due_at=now + timedelta(seconds=delay), error=error, now=now
        )


async def _fail(
    ctx: AppContext, agent: AgentRecord | None, record: ScheduledRecord, token: str, error: str
) -> None:
    async with ctx.db.write() as conn:
        if not await repo.finish(
            conn, record.id, token, status=repo.FAILED, now=now_utc(), error=error
        ):
            return
        entry = AuditEntry(
            "scheduled.failed",
            status="failed",
            owner_id=agent.owner_id if agent else None,
            agent_id=record.agent_id,
            error=error,
            detail={"scheduledId": record.id},
        )
        await audit.record(ctx, conn, entry)


async def seconds_until_next(ctx: AppContext, poll_seconds: float) -> float:
    async with ctx.db.read() as conn:
        upcoming = await repo.next_wakeup(conn)
    if upcoming is None:
        return poll_seconds
    return min(max((upcoming - now_utc()).total_seconds(), 0.0), poll_seconds)


class Scheduler:
    """The loop of the scheduler role; ``start`` it, and ``close`` it on shutdown."""

    def __init__(self, ctx: AppContext, poll_seconds: float) -> None:
        self._ctx = ctx
        self._poll = poll_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reminders: ReminderSweeper | None = None
        self.passes = 0  # completed passes, for tests and health checks

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agentpost-scheduler")
        # Held-mail reminders are announced by the same role (services/reminder_sweeper.py).
        self._reminders = ReminderSweeper(self._ctx).start()

    async def close(self) -> None:
        self._stop.set()
        if self._reminders is not None:
            await self._reminders.close()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        async with self._ctx.events.subscribe(WAKE_CHANNEL) as wake:
            while not self._stop.is_set():
                delay = await self._pass()
                await self._sleep(wake, delay)

    async def _pass(self) -> float:
        try:
            claimed = await run_due(self._ctx)
            while claimed == BATCH and not self._stop.is_set():
                claimed = await run_due(self._ctx)
            delay = await seconds_until_next(self._ctx, self._poll)
        except Exception:
            logger.exception("scheduler pass failed; retrying in %.0f s", self._poll)
            return self._poll
        finally:
            self.passes += 1
        return delay if (delay > 0 or claimed) else IDLE_WHEN_CONTENDED

    async def _sleep(self, wake: asyncio.Queue[Event], delay: float) -> None:
        woken = asyncio.ensure_future(wake.get())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({woken, stopped}, timeout=delay, return_when="FIRST_COMPLETED")
        finally:
            for task in (woken, stopped):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        while not wake.empty():  # one pass covers every wake-up that arrived meanwhile
            wake.get_nowait()


def start_scheduler(ctx: AppContext) -> Scheduler:
    scheduler = Scheduler(ctx, ctx.settings.scheduler_poll_seconds)
    scheduler.start()
    return scheduler
