"""The delivery worker: drains the outbound queue through the owners' SMTP configurations.

One loop claims due rows (services/delivery.py, under a lease), groups them by message and
configuration, and starts one task per message, up to ``delivery_concurrency`` at once. Each
task sends its message in one SMTP transaction over a pooled connection (transport.py), judges
every recipient's reply with the retry policy (retry.py), and queues the outcome; finished
outcomes are written together in one transaction (group commit).

It sleeps only when there is nothing to claim, and wakes as soon as a send commits (an event on
``DELIVERY_TOPIC``, relayed between processes), a retry or an expired lease falls
due, or ``delivery_poll_seconds`` have passed. Any number of workers may run against one
PostgreSQL database: claims skip rows another worker has locked or leased.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from agentpost.delivery.retry import RetryPolicy, Verdict, decide
from agentpost.delivery.transport import Envelope, RecipientResult, SmtpTransport
from agentpost.domain.dsn import header_block
from agentpost.domain.transport import SmtpEndpoint
from agentpost.services import delivery as queue
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.delivery import MessageOutcome, Resolver, RowResult
from agentpost.services.events import Event
from agentpost.storage.repositories.delivery import ClaimedRow

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
ERROR_PAUSE_SECONDS = 5.0
# Rows with no usable configuration are looked at again this often (not counted as attempts).
WAITING_RECHECK_SECONDS = 60.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DeliveryWorker:
    def __init__(
        self,
        ctx: AppContext,
        *,
        resolver: Resolver = queue.resolve_endpoint,
        transport: SmtpTransport | None = None,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.name = name or worker_name()
        self._resolver = resolver
        self.transport = transport or SmtpTransport(
            connections_per_endpoint=settings.delivery_connections_per_config,
            local_hostname=settings.domain,
        )
        self._policy = RetryPolicy(
            settings.delivery_retry_base_seconds, settings.delivery_retry_max_seconds
        )
        self._rng = rng
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[MessageOutcome] = []
        self._flush_lock = asyncio.Lock()
        # Messages whose outcome is committed (tests and operators wait on it).
        self.recorded = 0
        self._recorded_changed = asyncio.Condition()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until ``request_stop``; cancelling this task instead abandons in-flight
        sends (their rows are retried when their leases run out)."""
        async with self.ctx.events.subscribe(queue.DELIVERY_TOPIC) as events:
            listener = asyncio.create_task(self._listen(events), name="delivery-wakeups")
            try:
                while not self._stopping:
                    self._wake.clear()
                    await self._step()
            finally:
                listener.cancel()
                if not self._stopping:  # cancelled: a simulated (or real) crash
                    for task in list(self._tasks):
                        task.cancel()

    async def _step(self) -> None:
        try:
            if self._pending:  # outcomes a failed flush left behind
                await self._flush()
            if not await self._fill():
                await self._idle()
        except Exception:
            # The database went away, a resolver broke: claimed rows come back with their
            # leases; try again after a pause rather than end the worker.
            logger.exception("delivery worker %s: pass failed; retrying", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), ERROR_PAUSE_SECONDS)

    def request_stop(self) -> None:
        """Stop claiming rows; ``run`` returns soon after."""
        self._stopping = True
        self._wake.set()

    async def drain(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Let in-flight sends finish and record them (up to ``grace`` seconds), close the
        connections. Sends still running after that are cancelled: their leases bring the
        rows back."""
        if self._tasks:
            _done, late = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
        if self._pending:
            await self._flush()
        await self.transport.close()

    async def _listen(self, events: asyncio.Queue[Event]) -> None:
        while True:
            await events.get()
            self._wake.set()

    async def _idle(self) -> None:
        """Sleep until woken, a send finishes (a slot frees up) or the next row is due."""
        timeout = self.ctx.settings.delivery_poll_seconds
        # While sends are in flight, the next one to finish wakes this loop anyway: ask the
        # database when the next row falls due only when nothing is in flight.
        due = None if self._tasks else await queue.next_due(self.ctx)
        if due is not None:
            timeout = min(timeout, max((due - now_utc()).total_seconds(), 0.0) + 0.01)
        woken = asyncio.ensure_future(self._wake.wait())
        waiters: set[asyncio.Future[object]] = {woken, *self._tasks}  # type: ignore[arg-type]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()

    async def _fill(self) -> bool:
        """Claim as many rows as there are free slots and start their sends. True when every
        slot was filled (more may be due); False sends the loop to ``_idle``."""
        concurrency = self.ctx.settings.delivery_concurrency
        free = concurrency - len(self._tasks)
        # Claim in batches (a claim is a write transaction), not a row per finished send.
        if free <= 0 or (self._tasks and free < max(1, concurrency // 4)):
            return False
        rows = await queue.claim(self.ctx, self.name, free)
        if not rows:
            return False
        groups: dict[tuple[int, str | None], list[ClaimedRow]] = defaultdict(list)
        for row in rows:
            groups[(row.message_row_id, row.config_id)].append(row)
        ready = await queue.sendable(self.ctx, self._resolver, rows)
        for group in groups.values():
            first = group[0]
            target = ready.targets[(first.config_id, first.owner_id)]
            task = asyncio.create_task(self._deliver(group, ready.blobs[first.blob_id], target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(rows) >= free

    async def _deliver(
        self, rows: list[ClaimedRow], raw: bytes, target: SmtpEndpoint | str
    ) -> None:
        try:
            outcome = await self._attempt(rows, raw, target)
        except Exception:  # a bug, not a delivery outcome: the leases bring the rows back
            logger.exception("delivery of message %s failed unexpectedly", rows[0].message_id)
            return
        self._pending.append(outcome)
        await self._flush()

    async def _flush(self) -> None:
        # Whoever holds the lock writes everything queued so far: one commit for many sends.
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await queue.record(self.ctx, self.name, batch)
            except Exception:
                # Kept for the next flush: dropping them would send these messages again.
                logger.exception("could not record %d delivery outcomes", len(batch))
                self._pending[:0] = batch
                return
        async with self._recorded_changed:
            self.recorded += len(batch)
            self._recorded_changed.notify_all()

    async def wait_recorded(self, count: int, timeout: float = 15.0) -> None:
        """Wait until at least ``count`` message outcomes have been committed."""
        async with asyncio.timeout(timeout), self._recorded_changed:
            await self._recorded_changed.wait_for(lambda: self.recorded >= count)

    async def _attempt(
        self, rows: list[ClaimedRow], raw: bytes, target: SmtpEndpoint | str
    ) -> MessageOutcome:
        started, clock = now_utc(), time.monotonic()
        config_id = target.config_id if isinstance(target, SmtpEndpoint) else rows[0].config_id
        if isinstance(target, str):
            results = [self._waiting(row, target, started) for row in rows]
        else:
            sender = target.from_email or rows[0].sender
            envelope = Envelope(sender, [r.recipient for r in rows], raw)
            replies = await self.transport.send(target, envelope)
            now = now_utc()
            results = [self._judge(r, reply, now) for r, reply in zip(rows, replies, strict=True)]
        return MessageOutcome(
            results=results,
            config_id=config_id,
            started_at=started,
            duration_ms=int((time.monotonic() - clock) * 1000),
            header=header_block(raw),
        )

    def _judge(self, row: ClaimedRow, reply: RecipientResult, now: datetime) -> RowResult:
        decision = decide(
            code=None if reply.soft else reply.code,
            ok=reply.ok,
            attempts=row.attempts + 1,
            now=now,
            deadline=row.deadline_at,
            policy=self._policy,
            rng=self._rng,
        )
        return RowResult(
            row=row,
            verdict=decision.verdict.value,
            code=reply.code,
            reply=reply.reply,
            next_attempt_at=decision.next_attempt_at,
            expired=decision.expired,
        )

    def _waiting(self, row: ClaimedRow, reason: str, now: datetime) -> RowResult:
        """No configuration to send through: wait (not an attempt) until the deadline."""
        if now >= row.deadline_at:
            return RowResult(row, Verdict.FAILED.value, None, reason, expired=True)
        recheck = min(now + timedelta(seconds=WAITING_RECHECK_SECONDS), row.deadline_at)
        return RowResult(row, "waiting", None, reason, next_attempt_at=recheck)


class RunningWorker:
    """A worker running as a task of the current loop (the server's worker role, tests)."""

    def __init__(self, worker: DeliveryWorker) -> None:
        self.worker = worker
        self.task = asyncio.create_task(worker.run(), name=f"delivery-worker {worker.name}")

    async def close(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Graceful: stop claiming, finish in-flight sends, record them, close connections."""
        self.worker.request_stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.worker.drain(grace)

    async def crash(self) -> None:
        """Abandon everything mid-flight, as a killed process would (for tests)."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.worker.transport.close()


def start_worker(ctx: AppContext, **options: object) -> RunningWorker:
    return RunningWorker(DeliveryWorker(ctx, **options))  # type: ignore[arg-type]
