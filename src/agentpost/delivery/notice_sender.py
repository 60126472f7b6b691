"""The notice sender: delivers the system outbox (services/notices.py) in the worker role.

One loop claims due notices under a lease, sends each through its owner's default SMTP
configuration (transport.py, its own connection pools), and judges the reply with the same
retry policy as agent mail (retry.py): 2xx sent, 4xx or a network failure retried with
backoff until the deadline, 5xx failed. An owner with no usable configuration at send time
is looked at again a minute later, until the deadline. It sleeps until a notice is queued
(an event on ``NOTICE_TOPIC``, published after replies are processed), the next retry falls
due, or ``notice_poll_seconds`` pass (approval requests are queued inside a send's
transaction, which announces nothing, so the poll is what picks those up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta

from agentpost.delivery.retry import RetryPolicy, Verdict, decide
from agentpost.delivery.transport import Envelope, SmtpTransport
from agentpost.services import notices
from agentpost.services.accounts import now_utc
from agentpost.services.context import AppContext
from agentpost.services.events import Event
from agentpost.storage.repositories.notices import NoticeRecord

logger = logging.getLogger(__name__)

BATCH = 16
ERROR_PAUSE_SECONDS = 5.0
NO_CONFIG_RECHECK_SECONDS = 60.0
NO_CONFIG = "no active SMTP configuration to send through (the owner's default one)"


class NoticeSender:
    def __init__(
        self,
        ctx: AppContext,
        *,
        transport: SmtpTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.transport = transport or SmtpTransport(
            connections_per_endpoint=1, local_hostname=settings.domain
        )
        self._policy = RetryPolicy(
            settings.delivery_retry_base_seconds, settings.delivery_retry_max_seconds
        )
        self._rng = rng
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with self.ctx.events.subscribe(notices.NOTICE_TOPIC) as events:
            listener = asyncio.create_task(self._listen(events), name="notice-wakeups")
            try:
                while not self._stopping:
                    self._wake.clear()
                    try:
                        if await self.send_due() == 0:
                            await self._idle()
                    except Exception:
                        logger.exception("notice sender: pass failed; retrying")
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), ERROR_PAUSE_SECONDS)
            finally:
                listener.cancel()

    def request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _listen(self, events: asyncio.Queue[Event]) -> None:
        while True:
            await events.get()
            self._wake.set()

    async def _idle(self) -> None:
        timeout = self.ctx.settings.notice_poll_seconds
        due = await notices.next_due(self.ctx)
        if due is not None:
            timeout = min(timeout, max((due - now_utc()).total_seconds(), 0.0) + 0.01)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def send_due(self) -> int:
        """Send every notice due now, one batch at a time; returns how many were tried."""
        tried = 0
        while not self._stopping:
            claimed = await notices.claim(self.ctx, BATCH)
            for notice in claimed:
                await self._send(notice)
            tried += len(claimed)
            if len(claimed) < BATCH:
                break
        return tried

    async def _send(self, notice: NoticeRecord) -> None:
        outgoing = await notices.prepare(self.ctx, notice)
        now = now_utc()
        if outgoing is None:
            if now >= notice.deadline_at:
                await notices.record(
                    self.ctx, notice, status="failed", next_attempt_at=None, reply=NO_CONFIG
                )
                return
            later = min(now + timedelta(seconds=NO_CONFIG_RECHECK_SECONDS), notice.deadline_at)
            await notices.record(
                self.ctx, notice, status="queued", next_attempt_at=later, reply=NO_CONFIG
            )
            return
        envelope = Envelope(outgoing.sender, [notice.recipient], outgoing.raw)
        [result] = await self.transport.send(outgoing.endpoint, envelope)
        decision = decide(
            code=None if result.soft else result.code,
            ok=result.ok,
            attempts=notice.attempts + 1,
            now=now_utc(),
            deadline=notice.deadline_at,
            policy=self._policy,
            rng=self._rng,
        )
        status = {Verdict.DELIVERED: "sent", Verdict.FAILED: "failed"}.get(
            decision.verdict, "queued"
        )
        await notices.record(
            self.ctx,
            notice,
            status=status,
            next_attempt_at=decision.next_attempt_at,
            reply=result.reply,
        )


class RunningNoticeSender:
    """The sender as a task of the current loop (the server's worker role, tests)."""

    def __init__(self, sender: NoticeSender) -> None:
        self.sender = sender
        self.task = asyncio.create_task(sender.run(), name="notice-sender")

    async def close(self) -> None:
        self.sender.request_stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.sender.transport.close()


def start_notice_sender(ctx: AppContext) -> RunningNoticeSender:
    return RunningNoticeSender(NoticeSender(ctx))
