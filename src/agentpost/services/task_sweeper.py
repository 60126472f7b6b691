"""The scheduler role's task sweep: open tasks past their expiry are expired on time.

Listing and state-changing calls already expire an agent's own overdue tasks when they run,
but an agent that never calls again would never hear that its task lapsed; the sweep makes
``task.expired`` reach both parties within ``interval`` seconds of the deadline, whoever is
listening. Several schedulers may sweep at once: expiring is a guarded state transition, so
each task expires (and is announced) once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agentpost.services import tasks
from agentpost.services.context import AppContext

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0


class TaskSweeper:
    def __init__(self, ctx: AppContext, *, interval: float = SWEEP_SECONDS) -> None:
        self._ctx = ctx
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> TaskSweeper:
        self._task = asyncio.create_task(self._run(), name="agentpost-task-sweeper")
        return self

    async def _run(self) -> None:
        while True:
            try:
                expired = await tasks.expire_overdue(self._ctx)
                if expired:
                    logger.info("expired %d overdue task(s)", expired)
            except Exception:
                # A database hiccup must not end the sweep; the next round tries again.
                logger.exception("task sweep failed")
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
